# samsa: a Kafka-compatible broker in C, written as a book you can run.
#
#   make            build build/samsa
#   make run        build and start a broker (plaintext on 127.0.0.1:9092, data in ./data)
#   make cluster    build and start three KRaft nodes (config/cluster/, data in ./data/cluster)
#   make cluster-secure  the same with TLS, SCRAM and ACLs (config/cluster-secure/; make certs first)
#   make test       install what the tests need, build, run every test
#   make test SANITIZE=1   the same under AddressSanitizer + UBSan
#   make docs       render diagrams/*.dot to docs/img/*.svg and check doc citations
#   make bench-log  the log benchmark (chapters 01-03)
#   make bench      samsa vs librdkafka's mock broker, same client (BENCH_ARGS="--quick --runs 1")
#   make stage-07   the broker from chapters 00-07 (+ 15, main) only: build/stage-07/samsa
#   make stage-08   the broker up to replication (chapter 08): build/stage-08/samsa
#   make bench-cluster  chapter 07: create-visible and election times of a 3-node cluster
#   make stage-06   the broker from chapters 00-06 (+ 15, main) only: build/stage-06/samsa
#   make fuzz       libFuzzer over every request decoder (FUZZ_SECONDS=60; not in make test)
#   make certs      a local CA, a broker and two client certificates in ./certs (TLS, chapter 13)

CC      ?= cc
SANITIZE ?= 0
# A table row names the fields it needs and C zeroes the rest (a struct
# net_api row without .listeners serves the broker listener), so
# -Wmissing-field-initializers is off.
CFLAGS_WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
               -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Ichapters
# -lssl -lcrypto: OpenSSL's TLS (chapter 13's listeners) and its PBKDF2, HMAC
# and RAND_bytes (chapter 13's SCRAM).
LDLIBS  += -lz -lpthread -lssl -lcrypto

ifeq ($(SANITIZE),1)
BUILD   := build/sanitize
CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build
endif

# Every chapter; the broker main (the last chapter) is kept apart so unit
# tests can link the others without a second main().
CHAPTER_SRCS := $(sort $(wildcard chapters/[0-9][0-9]_*.c))
MAIN_SRC     := $(lastword $(filter %_broker.c,$(CHAPTER_SRCS)))
LIB_SRCS     := $(filter-out $(MAIN_SRC),$(CHAPTER_SRCS))
LIB_OBJS     := $(patsubst chapters/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
MAIN_OBJ     := $(patsubst chapters/%.c,$(BUILD)/obj/%.o,$(MAIN_SRC))
HEADERS      := $(wildcard chapters/*.h)

UNIT_SRCS    := $(sort $(wildcard tests/[0-9][0-9]_*_test.c))
UNIT_BINS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
CLIENT_BINS  := $(BUILD)/tests/clients/rdkafka_client

.PHONY: all run cluster cluster-secure test unit-tests deps docs check-docs bench-log bench bench-cluster bench-tls clean fmt \
        fuzz certs stage-06 stage-07 stage-08 stage-10 stage-11 lab lab-list lab-clean
all: $(BUILD)/samsa

$(BUILD)/obj/%.o: chapters/%.c $(HEADERS) | $(BUILD)/obj
	$(CC) $(CPPFLAGS) $(CFLAGS_WARN) $(CFLAGS) -c $< -o $@

$(BUILD)/samsa: $(LIB_OBJS) $(MAIN_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# A chapter's unit test links chapters 00..NN only: the rule that a chapter
# uses nothing after it is checked by the linker.
upto_objs = $(patsubst chapters/%.c,$(BUILD)/obj/%.o,$(filter \
    $(foreach n,$(shell seq -f %02g 0 $(firstword $(subst _, ,$(1)))),chapters/$(n)_%.c),\
    $(LIB_SRCS)))

.SECONDEXPANSION:
$(BUILD)/tests/%_test: tests/%_test.c tests/testutil.h $$(call upto_objs,$$*) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS_WARN) $(CFLAGS) $(LDFLAGS) $< \
	      $(call upto_objs,$*) -o $@ -lcmocka $(LDLIBS)

# Chapter 06's test counts the wakes of an append through a wrapper.
$(BUILD)/tests/06_topics_test: LDFLAGS += -Wl,--wrap=net_wake

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

# ---- Running ----

run: $(BUILD)/samsa
	@mkdir -p data
	$(BUILD)/samsa broker config/server.properties

# The three nodes of config/cluster/ on 127.0.0.1 (tools/cluster.sh):
# formatted once with one cluster id, stopped together by Ctrl-C.
cluster: $(BUILD)/samsa
	sh tools/cluster.sh $(BUILD)/samsa

# config/cluster-secure/: the same three nodes with SSL (mutual TLS),
# SASL_SSL (SCRAM-SHA-512 users admin, alice, bob) and ACLs; run make certs first.
cluster-secure: $(BUILD)/samsa
	sh tools/cluster.sh --secure $(BUILD)/samsa

# The certificates config/secure.properties and config/cluster-secure/ read (tools/certs.sh).
certs:
	sh tools/certs.sh certs

# ---- Tests ----

deps:
	@sh tests/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory unit-tests SANITIZE=$(SANITIZE)
	@sh tests/run.sh $(BUILD)

# make test-03: the unit tests of chapters 00..03 only. A chapter is done
# when its set, and every set before it, is green (STYLE.md §8).
# Ends with its own "N passed, N failed" line (tests/run.sh BUILD NN).
test-%: deps
	@bins=""; for n in $$(seq -f %02g 0 $*); do for t in tests/$${n}_*_test.c; do \
	    [ -f "$$t" ] && bins="$$bins $(BUILD)/tests/$$(basename $$t .c)"; done; done; \
	$(MAKE) --no-print-directory SANITIZE=$(SANITIZE) $$bins && \
	sh tests/run.sh $(BUILD) $*

unit-tests: $(BUILD)/samsa $(UNIT_BINS) $(CLIENT_BINS)

# Client test helpers (tests/clients_test.sh): a librdkafka CLI. Built
# without sanitizers: it tests the broker, not itself.
$(BUILD)/tests/clients/rdkafka_client: tests/clients/rdkafka_client.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS_WARN) -O2 -g $< -o $@ -lrdkafka

# ---- Stages: a broker from chapters 00..NN (and 15, main) only ----
#
# `make stage-06` compiles with SAMSA_STAGE=6, so broker_open calls no later
# chapter; each stage is a broker a client can already use.

STAGES := 06 07 08 10 11
stage_srcs = $(filter $(foreach n,$(shell seq -f %02g 0 $(1)),chapters/$(n)_%.c) \
                      chapters/15_%.c,$(CHAPTER_SRCS))

define STAGE_RULES
stage-$(1): build/stage-$(1)/samsa

build/stage-$(1)/samsa: $(patsubst chapters/%.c,build/stage-$(1)/obj/%.o,$(call stage_srcs,$(1)))
	$$(CC) $$(LDFLAGS) $$^ -o $$@ $$(LDLIBS)

build/stage-$(1)/obj/%.o: chapters/%.c $(HEADERS)
	@mkdir -p $$(@D)
	$$(CC) $$(CPPFLAGS) -DSAMSA_STAGE=$(patsubst 0%,%,$(1)) $$(CFLAGS_WARN) $$(CFLAGS) -c $$< -o $$@
endef
$(foreach s,$(STAGES),$(eval $(call STAGE_RULES,$(s))))

# ---- Fuzzing (clang + libFuzzer; not part of make test) ----
#
# tests/fuzz/fuzz_requests.c boots a broker once per process and feeds each
# input to it as one request frame; seeds are in tests/fuzz/corpus/. Runs
# FUZZ_SECONDS (60) and fails on any crash, leak or sanitizer report; the
# input that broke it is left in build/fuzz/artifacts/. docs/15_broker.md
# says how to run it longer.

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_OBJS    := $(patsubst chapters/%.c,build/fuzz/obj/%.o,$(LIB_SRCS))

fuzz: build/fuzz/fuzz_requests
	@mkdir -p build/fuzz/corpus build/fuzz/artifacts
	build/fuzz/fuzz_requests -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/artifacts/ build/fuzz/corpus tests/fuzz/corpus

build/fuzz/fuzz_requests: tests/fuzz/fuzz_requests.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS_WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    $< $(FUZZ_OBJS) -o $@ $(LDLIBS)

build/fuzz/obj/%.o: chapters/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS_WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -c $< -o $@

# ---- The lab (docs/lab.md) ----
#
# `make lab` runs the default scenario set of lab/scenarios/ against a
# three-AZ cluster in network namespaces and ends with build/lab/report.md
# (one row per scenario; a timeline per scenario in build/lab/<name>/).
# `make lab SCENARIO=hard-crash` runs one (a name or a number; several
# separated by spaces); the soak is opt-in: `make lab SCENARIO=soak SEED=7
# MINUTES=30`. `make lab-list` lists them; `make lab-clean` removes what a
# killed lab left behind (namespaces, their processes, tmpfs data dirs).
# Needs root (or unprivileged user namespaces): docs/lab.md says what needs what.

lab: deps $(BUILD)/samsa
	/usr/bin/python3 lab/run.py --samsa $(BUILD)/samsa $(SCENARIO) \
	    $(if $(SEED),--seed $(SEED)) $(if $(MINUTES),--minutes $(MINUTES))

lab-list:
	@/usr/bin/python3 lab/run.py list

lab-clean:
	/usr/bin/python3 lab/run.py clean

# ---- Docs ----

DOTS := $(wildcard diagrams/*.dot)
SVGS := $(patsubst diagrams/%.dot,docs/img/%.svg,$(DOTS))

docs: $(SVGS) check-docs

docs/img/%.svg: diagrams/%.dot
	@mkdir -p docs/img
	dot -Tsvg $< -o $@

check-docs:
	@/usr/bin/python3 tests/check_docs.py .

# ---- Benchmarks (figures, never pass/fail) ----

# make bench: samsa against librdkafka's mock cluster with the same
# librdkafka client (lab/bench/bench.py says how); results in build/bench/.
# BENCH_ARGS="--quick --runs 1" for a smoke test, "--only W1,W6" for a subset.
BENCH_ARGS ?=
bench: $(BUILD)/samsa $(BUILD)/bench/samsa_bench
	/usr/bin/python3 lab/bench/bench.py --samsa $(BUILD)/samsa \
	    --client $(BUILD)/bench/samsa_bench --out $(BUILD)/bench $(BENCH_ARGS)
	/usr/bin/python3 lab/bench/cluster_bench.py --samsa $(BUILD)/samsa \
	    --out $(BUILD)/bench
	/usr/bin/python3 lab/bench/tls_bench.py --samsa $(BUILD)/samsa \
	    --client $(BUILD)/bench/samsa_bench --out $(BUILD)/bench

# Chapter 13's rows alone: produce and consume over SSL beside PLAINTEXT,
# SCRAM's connection setup (lab/bench/tls_bench.py); build/bench/tls.md.
bench-tls: $(BUILD)/samsa $(BUILD)/bench/samsa_bench
	/usr/bin/python3 lab/bench/tls_bench.py --samsa $(BUILD)/samsa \
	    --client $(BUILD)/bench/samsa_bench --out $(BUILD)/bench

# Chapter 07's rows alone: a three-node cluster's create-visible time and
# election time (lab/bench/cluster_bench.py); results in build/bench/cluster.md.
bench-cluster: $(BUILD)/samsa
	/usr/bin/python3 lab/bench/cluster_bench.py --samsa $(BUILD)/samsa \
	    --out $(BUILD)/bench

bench-log: $(BUILD)/bench_log
	$(BUILD)/bench_log $(BENCH_DIR)

$(BUILD)/bench_log: lab/bench/bench_log.c $(call upto_objs,03)
	$(CC) $(CPPFLAGS) $(CFLAGS_WARN) $(CFLAGS) $(LDFLAGS) $< $(call upto_objs,03) -o $@ $(LDLIBS)

# The librdkafka client of `make bench` (also starts the mock-cluster peer
# and measures the machine's limits); it links no chapter.
$(BUILD)/bench/samsa_bench: lab/bench/bench_client.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS_WARN) $(CFLAGS) $(LDFLAGS) $< -o $@ \
	    -lrdkafka -lpthread -lm

clean:
	rm -rf build
