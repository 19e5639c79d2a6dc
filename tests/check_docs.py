#!/usr/bin/python3
"""Check that docs and diagrams cite only names that exist (STYLE.md §9).

    check_docs.py ROOT

Every docs/*.md and diagrams/*.dot is read. A name counts as a citation when
it carries a chapter prefix (seg_append, struct log, SEG_OFF_CRC, KB_OK,
handle_produce, ...) or is a repository path (chapters/01_segment.c). In
Markdown only `backticked` spans are read; in Graphviz files every word is.
Each cited name must occur as a whole word in the sources (chapters/, tests/,
lab/, Makefile), and each path must exist. Each chapter NN_name.c (NN >= 01)
must have docs/NN_name.md and diagrams/NN_name.dot, and every image a doc
embeds must have its diagram source. The header comment of each chapter file
NN_name.c (NN >= 01) must say which earlier chapters it uses, spelled

    Uses chapters 00 (base), 04 (codec), 05 (server).

(numbers, with optional words in parentheses; "chapter" for one), and those
numbers must be exactly the earlier chapters whose headers it #includes.
Exit 1, naming file and line, on any miss.
"""
import os
import re
import sys

PREFIXES = ("kb_ seg_ idx_ log_ wire_ net_ topic_ raft_ meta_ repl_ grp_ clean_ "
            "prod_ acl_ tls_ sasl_ scram_ ops_ cfg_ broker_ handle_ bench_").split()
IDENT = re.compile(r"\b((?:struct|enum)\s+)?([A-Za-z_][A-Za-z0-9_]*)\b")
PATH = re.compile(r"^(chapters|tests|lab|docs|diagrams|config)/[\w./-]+$")
SOURCE_DIRS = ("chapters", "tests", "lab")
USES = re.compile(r"\bUses chapters?\s+(.*?)(?:\.(?:\s|$)|$)", re.S)
INCLUDE = re.compile(r'^#include "(\d\d)_\w+\.h"', re.M)


def is_cited_name(word):
    low = word.lower()
    return any(low.startswith(p) and len(word) > len(p) for p in PREFIXES) \
        or word.startswith("KAFKA_ERR_")


def source_words(root):
    words = set()
    files = [os.path.join(root, "Makefile")]
    for d in SOURCE_DIRS:
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            files += [os.path.join(dirpath, n) for n in names
                      if n.endswith((".c", ".h", ".sh", ".py", ".js"))]
    for f in files:
        if os.path.exists(f):
            with open(f, errors="replace") as fh:
                text = fh.read()
                words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
                words.update("struct " + t for t in re.findall(r"\bstruct\s+(\w+)", text))
                words.update("enum " + t for t in re.findall(r"\benum\s+(\w+)", text))
    return words


def citations(path):
    """Yield (line number, cited text) for one doc or diagram."""
    with open(path, errors="replace") as fh:
        lines = fh.read().split("\n")
    for no, line in enumerate(lines, 1):
        spans = re.findall(r"`([^`]+)`", line) if path.endswith(".md") else [line]
        for span in spans:
            span = span.strip()
            if PATH.match(span):
                yield no, span, True
                continue
            for m in IDENT.finditer(span):
                if m.group(1):  # "struct segment": the type must exist
                    yield no, m.group(1).split()[0] + " " + m.group(2), False
                elif is_cited_name(m.group(2)):
                    yield no, m.group(2), False
        if path.endswith(".md"):
            for img in re.findall(r"!\[[^\]]*\]\(img/([\w-]+)\.svg\)", line):
                yield no, "diagrams/%s.dot" % img, True


def header_comment(text):
    """The first comment block after the SPDX line, its '*' margins cut."""
    m = re.search(r"/\*(?!\s*SPDX)(.*?)\*/", text, re.S)
    if not m:
        return ""
    return " ".join(line.strip().lstrip("*").strip()
                    for line in m.group(1).split("\n"))


def uses_problems(root, name):
    """What is wrong with chapters/<name>'s "Uses chapters" line, if anything."""
    with open(os.path.join(root, "chapters", name), errors="replace") as fh:
        text = fh.read()
    own = name[:2]
    included = sorted({n for n in INCLUDE.findall(text) if n != own})
    m = USES.search(header_comment(text))
    if not m:
        return "no 'Uses chapters NN (name), ...' line in its header " \
               "(it includes chapters %s)" % ", ".join(included)
    listed = re.sub(r"\([^()]*\)", "", m.group(1))
    said = sorted(set(re.findall(r"\b(\d\d)\b", listed)))
    if said != included:
        return "header says it uses chapters %s, but it includes %s" % (
            ", ".join(said) or "none", ", ".join(included) or "none")
    return None


def main(root):
    words = source_words(root)
    errors = []
    targets = []
    for d, ext in (("docs", ".md"), ("diagrams", ".dot")):
        full = os.path.join(root, d)
        if os.path.isdir(full):
            targets += [os.path.join(full, n) for n in sorted(os.listdir(full))
                        if n.endswith(ext)]
    for t in targets:
        for no, name, is_path in citations(t):
            ok = os.path.exists(os.path.join(root, name)) if is_path else name in words
            if not ok:
                what = "path" if is_path else "name"
                errors.append("%s:%d: cites %s '%s', which does not exist"
                              % (os.path.relpath(t, root), no, what, name))
    chapters = os.path.join(root, "chapters")
    for n in sorted(os.listdir(chapters)) if os.path.isdir(chapters) else []:
        m = re.match(r"^(\d\d)_(\w+)\.c$", n)
        if not m or m.group(1) == "00":
            continue
        for need in ("docs/%s.md" % n[:-2], "diagrams/%s.dot" % n[:-2]):
            if not os.path.exists(os.path.join(root, need)):
                errors.append("chapters/%s: missing %s" % (n, need))
        problem = uses_problems(root, n)
        if problem:
            errors.append("chapters/%s: %s" % (n, problem))
    for e in errors:
        print(e)
    print("check-docs: %d files read, %d problems" % (len(targets), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
