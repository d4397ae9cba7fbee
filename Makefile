# The top-level Makefile: every target runs over the chapters in order and
# stops at the first chapter that fails.
#
#   make test    build everything and run every test; ends with `N passed, N failed`
#   make check   the same tests, built with AddressSanitizer and UBSan
#   make musl-test  the black-box tests against the programs built with
#                musl-gcc (Debian: musl-tools): the code leans on POSIX, not
#                glibc; ends with `N passed, N failed`
#   make fallback-test  every test against the programs and modules built with
#                FALLBACKS=1: the portable paths of 01-event-loop/net.c and
#                compat.h that macOS takes (socket() + fcntl() for
#                SOCK_CLOEXEC, pipe() + fcntl() for pipe2, ...), run on
#                Linux; ends with `N passed, N failed`
#   make demo    the classroom tour: every chapter's demo, in order
#   make bench   figures, side by side (never pass/fail)
#   make doc-test  run the commands every chapter README shows and compare
#                the output it shows; ends with `N passed, N failed`
#   make grade   the graded exercises of every chapter: one line each, PASS
#                or FAIL with a hint, and `N passed, N failed` (testkit/grade)
#   make report  measure every chapter briefly on this machine (a few
#                minutes, one progress line per step) and write one HTML page
#                of SVG charts, report/build/report.html (report/collect.sh);
#                QUICK=1 for the smallest sizes
#   make report-check  render that page in headless Chromium and check every
#                chart: the SVGs parse, the screenshots are not blank, nothing
#                is wider than the page (report/check.sh)
#   make clean   remove every build output
#
# testkit/interrupt-check checks that Ctrl-C stops `make test` and the demos
# within a second and leaves nothing behind (about 5 s).

CHAPTERS := $(patsubst %/Makefile,%,$(sort $(wildcard 0[1-7]-*/Makefile)))
# test and check first run testkit's own tests: every chapter's black-box
# tests stand on it; report/ (the page's SVG writer) comes last.
TEST_DIRS := testkit $(CHAPTERS) report
TOTALS := $(CURDIR)/.test-totals

.PHONY: all test check musl-test fallback-test demo bench fuzz clean doc-test grade report \
        report-check

all demo bench fuzz:
	@for d in $(CHAPTERS); do \
	    echo "=== $$d: make $@"; \
	    $(MAKE) --no-print-directory -C $$d $@ || exit 1; \
	done

clean:
	@for d in $(TEST_DIRS); do \
	    echo "=== $$d: make $@"; \
	    $(MAKE) --no-print-directory -C $$d $@ || exit 1; \
	done

# test, check and fallback-test total the cmocka results of every chapter
# into one line; musl-test too, over the chapters (testkit has no program to
# build).
test check musl-test fallback-test:
	@rm -f $(TOTALS); status=0; \
	for d in $(if $(filter musl-test,$@),$(CHAPTERS),$(TEST_DIRS)); do \
	    echo "=== $$d: make $@"; \
	    before=$$(cat $(TOTALS) 2>/dev/null | wc -l); \
	    $(MAKE) --no-print-directory -C $$d $@ TOTALS=$(TOTALS) && continue; \
	    status=1; \
	    after=$$(cat $(TOTALS) 2>/dev/null | wc -l); \
	    [ "$$after" -gt "$$before" ] || echo "0 1 0" >> $(TOTALS); \
	    break; \
	done; \
	if [ -f $(TOTALS) ]; then \
	    awk '{p+=$$1; f+=$$2; s+=$$3} END { \
	        if (s > 0) printf "%d passed, %d failed, %d skipped\n", p, f, s; \
	        else printf "%d passed, %d failed\n", p, f }' $(TOTALS); \
	fi; \
	rm -f $(TOTALS); \
	exit $$status

# doc-test first checks the checker, then builds every chapter and runs each
# README's walk-through in its folder (testkit/doc-test), one line per README.
doc-test:
	@testkit/test-doc-test >/dev/null || { testkit/test-doc-test; exit 1; }
	@for d in $(CHAPTERS); do \
	    $(MAKE) --no-print-directory -s -C $$d all || exit 1; \
	done
	@testkit/doc-test README.md $(addsuffix /README.md,$(CHAPTERS))

# grade runs every chapter's checks, even after a chapter with failures (a
# student works through them in order), and totals them.
grade:
	@rm -f $(TOTALS); status=0; \
	for d in $(CHAPTERS); do \
	    echo "=== $$d: make $@"; \
	    $(MAKE) --no-print-directory -C $$d $@ TOTALS=$(TOTALS) || status=1; \
	done; \
	if [ -f $(TOTALS) ]; then \
	    awk '{p+=$$1; f+=$$2} END { printf "%d passed, %d failed\n", p, f }' $(TOTALS); \
	fi; \
	rm -f $(TOTALS); \
	exit $$status

# report measures with every chapter's programs (collect.sh builds them) and
# draws the page with report/report.
report:
	@$(MAKE) --no-print-directory -s -C report page

report-check:
	@$(MAKE) --no-print-directory -s -C report page-check
