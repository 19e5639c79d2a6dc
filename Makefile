# samsa: a Kafka-compatible broker in C, written as a book you can run.
#
#   make            build build/samsa
#   make run        build and start a broker (plaintext on 127.0.0.1:9092, data in ./data)
#   make test       install what the tests need, build, run every test
#   make test SANITIZE=1   the same under AddressSanitizer + UBSan
#   make docs       render diagrams/*.dot to docs/img/*.svg and check doc citations
#   make bench-log  the log benchmark (chapters 01-03)

CC      ?= cc
SANITIZE ?= 0
CFLAGS_WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
               -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Ichapters
LDLIBS  += -lz -lpthread

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

.PHONY: all run test unit-tests deps docs check-docs bench-log clean fmt
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

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

# ---- Running ----

run: $(BUILD)/samsa
	@mkdir -p data
	$(BUILD)/samsa broker config/server.properties

# ---- Tests ----

deps:
	@sh tests/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory unit-tests SANITIZE=$(SANITIZE)
	@sh tests/run.sh $(BUILD)

unit-tests: $(BUILD)/samsa $(UNIT_BINS)

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

bench-log: $(BUILD)/bench_log
	$(BUILD)/bench_log $(BENCH_DIR)

$(BUILD)/bench_log: lab/bench/bench_log.c $(LIB_OBJS)
	$(CC) $(CPPFLAGS) $(CFLAGS_WARN) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) -o $@ $(LDLIBS)

clean:
	rm -rf build
