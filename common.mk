# common.mk: compiler flags and pattern rules, defined once.
#
# Every chapter Makefile sets a few variables and then includes this file:
#
#   PROGS   the programs built at the chapter root (the first is `make run`'s)
#   TESTS   the cmocka test programs, named tests/<name>.c, built into build/
#   BLACKBOX  those of TESTS that run the programs rather than link modules
#           (`make musl-test` runs them against musl-built programs)
#   REUSE   directories of earlier chapters whose modules this chapter reuses
#           (their .c files are found through vpath and their headers via -I)
#
# and writes one link rule per program, for example
#
#   event-loop: $(BUILD)/event-loop.o $(LOOP_OBJS)
#
# Objects always go to build/ inside the chapter that is being built, even when
# the source lives in an earlier chapter, so chapters never share object files.
#
# Variables a reader may set on the command line:
#   CC=clang   build with another compiler (the flags stamp forces a rebuild)
#   SAN=1      build with AddressSanitizer and UndefinedBehaviorSanitizer;
#              this is what `make check` does
#   MUSL_CC=   the compiler `make musl-test` builds the programs with
#              (default musl-gcc)
#   FALLBACKS=1  compile the portable fallbacks of 01-event-loop/net.c and
#              compat.h even where the system has the faster call (socket()
#              + fcntl() for SOCK_CLOEXEC, pipe() + fcntl() for pipe2, ...),
#              so that Linux tests the code macOS runs; `make fallback-test`

ROOT := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BUILD := build

# 01's loop, which every chapter links: the core and its three backends
# (01-event-loop/loop_backend.h). A program names $(LOOP_OBJS); a fuzzer that
# compiles the loop in names $(LOOP_SRCS).
LOOP_FILES := loop.c loop_select.c loop_poll.c loop_epoll.c
LOOP_OBJS := $(addprefix $(BUILD)/,$(LOOP_FILES:.c=.o))
LOOP_SRCS := $(addprefix $(ROOT)/01-event-loop/,$(LOOP_FILES))

# The feature macros, per system (`uname -s`). The code is POSIX.1-2008 plus
# a few extensions that Linux, macOS and FreeBSD all have; every one of those
# has its fallback in 01-event-loop/net.c or compat.h.
#   Linux    POSIX.1-2008 strictly: glibc and musl then hide their extensions,
#            and the few files that need one (net.c for pipe2 and accept4)
#            ask for it by name with _GNU_SOURCE or _DEFAULT_SOURCE.
#   Darwin   _POSIX_C_SOURCE alone hides what macOS has beyond POSIX
#            (MSG_NOSIGNAL, CMSG_SPACE, NSIG, MAP_ANON); _DARWIN_C_SOURCE
#            shows it again next to POSIX.1-2008.
#   FreeBSD  no _POSIX_C_SOURCE: it would set __BSD_VISIBLE to 0, and
#            FreeBSD's default is POSIX.1-2008 with the BSD extensions
#            visible (__BSD_VISIBLE 1), which is what the code needs.
#   other    POSIX.1-2008, as on Linux.
UNAME_S := $(shell uname -s)
ifeq ($(UNAME_S),Darwin)
PLATFORM_FLAGS := -D_POSIX_C_SOURCE=200809L -D_DARWIN_C_SOURCE
else ifeq ($(UNAME_S),FreeBSD)
PLATFORM_FLAGS :=
else
PLATFORM_FLAGS := -D_POSIX_C_SOURCE=200809L
endif
CSTD := -std=c11 $(PLATFORM_FLAGS)
WARN := -Wall -Wextra -Wpedantic -Wshadow -Wmissing-prototypes -Werror
OPT ?= -O2 -g
CFLAGS += $(CSTD) $(WARN) $(OPT)
CPPFLAGS += -I. -I$(ROOT)/testkit $(addprefix -I,$(REUSE))
LDLIBS += -lm
ifeq ($(FALLBACKS),1)
CPPFLAGS += -DNET_FORCE_FALLBACKS
endif

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
# Leaks in a program that exits through err() are not bugs worth failing on;
# use-after-free, overflows and undefined behaviour are.
export ASAN_OPTIONS ?= detect_leaks=0:abort_on_error=0
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
endif

CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

# The programs need only libc; the tests need cmocka. Without it (or with a
# compiler that cannot see it, like musl-gcc), `make` builds the programs and
# skips the tests with one line, and `make test` says what to install. The
# probe preprocesses <cmocka.h> with the compiler in use (\043 is a #).
HAVE_CMOCKA := $(shell printf '\043include <stdarg.h>\n\043include <stddef.h>\n\043include <stdint.h>\n\043include <setjmp.h>\n\043include <cmocka.h>\n' | \
                 $(CC) $(CMOCKA_CFLAGS) -E -x c - >/dev/null 2>&1 && echo yes)
NO_CMOCKA := the tests need cmocka, which $(CC) does not find: install libcmocka-dev \
             (Debian, Ubuntu), libcmocka-devel (Fedora) or cmocka (brew, FreeBSD pkg)

# Search only for sources. A plain VPATH would also find an earlier
# chapter's build/ and build/*.o (e.g. ../01-event-loop/build/testkit.o,
# built with other flags) and use them instead of building our own.
vpath %.c tests $(REUSE) $(ROOT)/testkit

TEST_BINS := $(addprefix $(BUILD)/,$(TESTS))

.PHONY: all run demo test check bench clean fuzz doc-test musl-test fallback-test grade FORCE
.DEFAULT_GOAL := all

ifeq ($(HAVE_CMOCKA),yes)
all: $(PROGS) $(TEST_BINS)
else
all: $(PROGS)
	@echo "$(notdir $(CURDIR)): programs built, tests skipped: $(NO_CMOCKA)"
endif

# A stamp of the compiler and flags: when they change (CC=clang, SAN=1), every
# object depends on a newer stamp and is rebuilt. No stale sanitizer objects.
FLAGS_LINE := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(BUILD)/.flags: FORCE | $(BUILD)
	@echo '$(FLAGS_LINE)' | cmp -s - $@ || echo '$(FLAGS_LINE)' > $@
FORCE:

$(BUILD):
	@mkdir -p $@

$(BUILD)/%.o: %.c $(BUILD)/.flags
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/testkit.o: CFLAGS += $(CMOCKA_CFLAGS)
$(BUILD)/test_%.o: CFLAGS += $(CMOCKA_CFLAGS)

# A test program links its own objects plus testkit (which makes its sockets
# and pipes with 01-event-loop's net.c) and cmocka; a chapter adds the
# modules under test with a line like `$(BUILD)/test_loop: $(LOOP_OBJS)`.
$(BUILD)/test_%: $(BUILD)/test_%.o $(BUILD)/testkit.o $(BUILD)/net.o
	$(CC) $(LDFLAGS) $(filter %.o,$^) -o $@ $(CMOCKA_LIBS) $(LDLIBS)

# Run every test program; testkit/run-tests prints one `N passed, N failed`
# line and appends the counts to $(TOTALS) when the top-level Makefile asks.
ifeq ($(HAVE_CMOCKA),yes)
test: all
	@$(ROOT)/testkit/run-tests $(TEST_BINS)
else
test:
	@echo "make test: $(NO_CMOCKA)" >&2; exit 1
endif

check:
	@$(MAKE) --no-print-directory SAN=1 test

# The black-box tests against the programs built with musl instead of the
# usual libc: the check that the programs lean on POSIX, not on glibc. cmocka
# is not built for musl, so the tests themselves are built with $(CC) as
# usual, and the unit tests (which link the modules into a cmocka program)
# are neither built nor run here: only the programs under test are musl's. Their
# objects go to build/musl/; the programs are linked at the chapter root,
# where the tests look for them, and removed when the run ends, however it
# ends, so that the next `make` links the usual ones again. The tests ask
# build/musl/strerror (testkit/strerror.c, built with musl) for the errno
# wording the programs print.
MUSL_CC ?= musl-gcc
musl-test:
	@command -v $(MUSL_CC) >/dev/null || \
	    { echo "make musl-test: no $(MUSL_CC) (Debian, Ubuntu: apt-get install musl-tools)" >&2; exit 1; }
	@rm -f $(PROGS); trap 'rm -f $(PROGS)' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP; \
	$(MAKE) --no-print-directory -s CC=$(MUSL_CC) SAN= BUILD=$(BUILD)/musl \
	    $(PROGS) $(BUILD)/musl/strerror && \
	$(MAKE) --no-print-directory -s $(addprefix -o ,$(PROGS)) $(addprefix $(BUILD)/,$(BLACKBOX)) && \
	TK_STRERROR=$(BUILD)/musl/strerror $(ROOT)/testkit/run-tests $(addprefix $(BUILD)/,$(BLACKBOX))

# Every test, unit and black-box, against the programs and modules built with
# FALLBACKS=1: the portable paths of net.c and compat.h that macOS and the
# BSDs take, run on this system. Objects go to build/fallback/; the programs
# are linked at the chapter root, where the tests look for them, and removed
# when the run ends, however it ends, as in musl-test.
fallback-test:
	@rm -f $(PROGS); trap 'rm -f $(PROGS)' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP; \
	$(MAKE) --no-print-directory -s FALLBACKS=1 BUILD=$(BUILD)/fallback test

# testkit's strerror helper (see tk_strerror in testkit.h).
$(BUILD)/strerror: $(BUILD)/strerror.o
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

run: all
	./$(firstword $(PROGS))

# The classroom demo and the benchmark are shell scripts beside the code, so
# a reader can open them and see exactly what runs.
demo: all
	@if [ -f demo.sh ]; then sh ./demo.sh; else echo "(no demo in this chapter)"; fi

bench: all
	@if [ -f bench.sh ]; then sh ./bench.sh; else echo "(no bench in this chapter)"; fi

# The graded exercises: testkit/grade copies the sources to build/grade/,
# builds them there and runs grade/K-name.c|sh, one line per exercise (its
# header says how to add one). The student's files and build/ stay as they are.
# A check may link build/testkit.o (with build/net.o, which it stands on),
# which needs cmocka as the tests do.
grade:
	@GRADE_PROGS='$(PROGS)' GRADE_CC='$(CC)' GRADE_CPPFLAGS='$(CPPFLAGS)' \
	    GRADE_LIBS='$(LDFLAGS) $(LDLIBS) $(if $(filter yes,$(HAVE_CMOCKA)),$(CMOCKA_LIBS))' \
	    $(ROOT)/testkit/grade .

# The README's walk-through, run and compared with what it shows
# (testkit/doc-test says how a README marks its blocks).
doc-test: all
	@$(ROOT)/testkit/doc-test README.md

# libFuzzer harnesses: a chapter lists FUZZERS (fuzz/<name>.c) and the module
# sources they test in FUZZ_SRCS. Each runs for FUZZ_SECONDS, starting from the
# seeds in fuzz/seeds-<name>/ when there are any. Needs clang.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined $(CSTD) -Wall -Wextra \
              -I. $(addprefix -I,$(REUSE))
$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_SRCS) | $(BUILD)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@

fuzz: $(addprefix $(BUILD)/,$(FUZZERS))
	@for f in $(FUZZERS); do \
	    mkdir -p $(BUILD)/corpus-$$f; \
	    seeds=; [ -d fuzz/seeds-$$f ] && seeds=fuzz/seeds-$$f; \
	    echo "fuzzing $$f for $(FUZZ_SECONDS)s"; \
	    $(BUILD)/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/ $(BUILD)/corpus-$$f $$seeds || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(PROGS) $(CLEAN_EXTRA)

# Keep objects make would otherwise delete as intermediates.
.PRECIOUS: $(BUILD)/%.o

-include $(wildcard $(BUILD)/*.d)
