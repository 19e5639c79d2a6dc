#!/usr/bin/python3
"""`samsa broker CONFIG [--override key=value]...`: the config file in
Java properties syntax with Kafka's key names, errors that name the file,
the line and the key (exit 2), meta.properties in KRaft's format and its
node.id check, one broker per log directory, and a clean SIGTERM."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import kwire
from harness import ROOT, SAMSA, Broker, free_port, run_tests, wait_listening


def start_fails(lines, *extra, want_rc=2):
    """Run `samsa broker` on a file of lines; it must exit want_rc at once.
    Returns (path of the file, its stderr)."""
    d = tempfile.mkdtemp(prefix="samsa-config-test-")
    try:
        path = os.path.join(d, "server.properties")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([SAMSA, "broker", path] + list(extra),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        assert r.returncode == want_rc, (r.returncode, r.stderr)
        return path, r.stderr.decode()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def good_lines(data="/nonexistent-samsa-dir"):
    return ["node.id=1", "listeners=PLAINTEXT://127.0.0.1:%d" % free_port(),
            "log.dirs=" + data]


def test_unknown_key_names_file_line_and_key():
    path, err = start_fails(good_lines() + ["# a comment", "log.segmnet.bytes=1024"])
    assert "%s:5: unknown key 'log.segmnet.bytes'" % path in err, err


def test_bad_number_names_file_line_and_key():
    path, err = start_fails(["num.partitions = many"] + good_lines())
    assert "%s:1: num.partitions: 'many' is not a whole number" % path in err, err


def test_value_out_of_range_is_refused():
    path, err = start_fails(good_lines() + ["num.partitions=0"])
    assert "%s:4: num.partitions:" % path in err and "at least 1" in err, err
    path, err = start_fails(good_lines() + ["default.replication.factor=40000"])
    assert "between 1 and 32767" in err, err


def test_bad_boolean_is_refused():
    path, err = start_fails(good_lines() + ["auto.create.topics.enable=yes"])
    assert "%s:4: auto.create.topics.enable: 'yes' is not true or false" % path in err, err


def test_several_log_dirs_are_refused():
    path, err = start_fails(good_lines() + ["log.dirs=/tmp/a,/tmp/b"])
    assert "%s:4: log.dirs:" % path in err and "several" in err, err


def test_plaintext_listeners_with_unique_names():
    _, err = start_fails(["node.id=1", "log.dirs=/tmp/x",
                          "listeners=SASL_SSL://127.0.0.1:9093"])
    # SASL_SSL is served (chapter 13) but Kafka's default mechanism, GSSAPI,
    # is not: refused naming the key.
    assert "sasl.enabled.mechanisms has GSSAPI" in err, err
    # SSL is served (chapter 13) but needs its keystore: refused at startup,
    # before the log directory is made.
    data = tempfile.mkdtemp(prefix="samsa-config-test-data-")
    os.rmdir(data)
    _, err = start_fails(["node.id=1", "log.dirs=" + data,
                          "listeners=SSL://127.0.0.1:%d" % free_port()], want_rc=1)
    assert "listener SSL (SSL): an SSL listener needs ssl.keystore.location" in err, err
    assert not os.path.exists(data)
    _, err = start_fails(["node.id=1", "log.dirs=/tmp/x", "listeners="
                          "PLAINTEXT://127.0.0.1:1,plaintext://127.0.0.1:2"])
    assert "PLAINTEXT is used twice" in err, err
    _, err = start_fails(["node.id=1", "log.dirs=/tmp/x", "listeners="
                          "PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2",
                          "controller.listener.names=CONTROLLER",
                          "controller.quorum.voters=1@127.0.0.1:2",
                          "process.roles=broker,controller"])
    assert "add CONTROLLER:PLAINTEXT to listener.security.protocol.map" in err, err


def test_controller_only_role_follows_kafkas_rules():
    _, err = start_fails(good_lines() + ["process.roles=controller"])
    assert "process.roles has controller: set controller.quorum.voters" in err, err
    _, err = start_fails(good_lines() + [
        "process.roles=controller", "controller.listener.names=CONTROLLER",
        "listeners=CONTROLLER://127.0.0.1:%d,PLAINTEXT://127.0.0.1:%d"
        % (free_port(), free_port()),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.voters=1@127.0.0.1:1"])
    assert "must only contain KRaft controller listeners" in err, err
    _, err = start_fails(good_lines() + ["process.roles=observer"])
    assert "process.roles: 'observer' is not" in err, err


def test_node_id_is_required():
    _, err = start_fails(good_lines()[1:])
    assert "node.id is required" in err, err


def test_override_uses_the_same_table():
    _, err = start_fails(good_lines(), "--override", "log.segmnet.bytes=1")
    assert "--override: unknown key 'log.segmnet.bytes'" in err, err
    _, err = start_fails(good_lines(), "--override", "message.max.bytes=-3")
    assert "--override: message.max.bytes:" in err, err


def test_java_properties_syntax_and_overrides():
    """'key: value', 'key value', '!' comments, continuation lines, and an
    override that wins over the file."""
    d = tempfile.mkdtemp(prefix="samsa-config-test-")
    port = free_port()
    path = os.path.join(d, "server.properties")
    with open(path, "w") as f:
        f.write("! Kafka style\n   node.id: 7\nlog.dirs %s/data\n"
                "listeners = PLAINTEXT://127.0.0.1:\\\n   %d\n"
                "num.partitions=1\n" % (d, port))
    p = subprocess.Popen([SAMSA, "broker", path, "--override",
                          "num.partitions=4"], stderr=subprocess.PIPE)
    try:
        wait_listening(port, p)
        with kwire.Conn("127.0.0.1:%d" % port) as c:
            c.request(kwire.metadata(4, ["fresh"]))   # auto-creates it
        meta = open(os.path.join(d, "data", "meta.properties")).read()
        assert "node.id=7" in meta, meta
        assert os.path.isdir(os.path.join(d, "data", "fresh-3")), \
            os.listdir(os.path.join(d, "data"))
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        shutil.rmtree(d, ignore_errors=True)


def test_meta_properties_in_kraft_format_and_kept():
    with Broker() as b:
        path = os.path.join(b.data, "meta.properties")
        first = dict(l.split("=", 1) for l in open(path).read().splitlines()
                     if l and not l.startswith("#"))
        assert first["version"] == "1" and first["node.id"] == "1", first
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first["cluster.id"]), first
        b.restart()
        again = open(path).read()
        assert "cluster.id=%s\n" % first["cluster.id"] in again, again


def test_node_id_mismatch_with_meta_properties_stops_startup():
    with Broker() as b:
        b.stop()
        b.overrides["node.id"] = "2"
        try:
            b.start()
            raise AssertionError("a broker with node.id 2 opened node 1's dir")
        except RuntimeError as e:
            assert "exited with 1" in str(e), e
            assert "Stored node id 1 doesn't match previous node id 2" in str(e), e


def test_one_broker_per_log_directory():
    with Broker() as b:
        other = Broker()
        other.data = b.data
        try:
            other.start()
            raise AssertionError("two brokers share %s" % b.data)
        except RuntimeError as e:
            assert "is in use by another broker" in str(e), e
        finally:
            other.stop()
            shutil.rmtree(other.dir, ignore_errors=True)
        assert b.alive()


def test_sigterm_is_a_clean_shutdown():
    with Broker() as b:
        with kwire.Conn(b.bootstrap) as c:
            c.request(kwire.create_topics(4, "t", 2))
        assert "samsa started: listening on 127.0.0.1:%d" % b.port in b.log_tail()
        assert b.stop() == 0, b.log_tail()
        assert os.path.exists(os.path.join(b.data, ".kafka_cleanshutdown"))
        assert "samsa stopped" in b.log_tail()


def test_the_shipped_config_starts_with_relative_data_dir():
    """config/server.properties as `make run` uses it, from a scratch
    working directory so ./data lands there."""
    d = tempfile.mkdtemp(prefix="samsa-config-test-")
    port = free_port()
    p = subprocess.Popen([SAMSA, "broker",
                          os.path.join(ROOT, "config", "server.properties"),
                          "--override",
                          "listeners=PLAINTEXT://127.0.0.1:%d" % port],
                         cwd=d, stderr=subprocess.PIPE)
    try:
        wait_listening(port, p)
        assert os.path.exists(os.path.join(d, "data", "meta.properties"))
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
