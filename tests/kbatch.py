#!/usr/bin/python3
"""Record batch v2 builder for script tests, written from the layout in
shared/kafka-protocol/CLIENTS.md §6 (not from samsa's code).

    kbatch.py segment FILE N_BATCHES RECORDS_PER_BATCH   write a .log file
    kbatch.py offset-index FILE OFFSET:POS ...          write a .index file
"""
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def zigzag(v):
    z = (v << 1) ^ (v >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def record(i, ts_delta, key, value):
    body = b"\x00" + zigzag(ts_delta) + zigzag(i)
    body += zigzag(-1) if key is None else zigzag(len(key)) + key
    body += zigzag(-1) if value is None else zigzag(len(value)) + value
    body += zigzag(0)
    return zigzag(len(body)) + body


def batch(base_offset, values, base_ts=1700000000000, keys=None):
    recs = b"".join(record(i, i, keys[i] if keys else None, v)
                    for i, v in enumerate(values))
    n = len(values)
    after_crc = struct.pack(">hiqqqhii", 0, n - 1, base_ts, base_ts + n - 1,
                            -1, -1, -1, n) + recs
    crc = crc32c(after_crc)
    length = 4 + 1 + 4 + len(after_crc)  # epoch, magic, crc, rest
    return struct.pack(">qiibI", base_offset, length, 0, 2, crc) + after_crc


def main(argv):
    if argv[1] == "segment":
        out, nb, per = argv[2], int(argv[3]), int(argv[4])
        data, off = b"", 0
        for _ in range(nb):
            data += batch(off, [b"value-%d" % (off + i) for i in range(per)])
            off += per
        open(out, "wb").write(data)
    elif argv[1] == "offset-index":
        ents = [tuple(map(int, a.split(":"))) for a in argv[3:]]
        open(argv[2], "wb").write(b"".join(struct.pack(">ii", o, p) for o, p in ents))
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main(sys.argv)
