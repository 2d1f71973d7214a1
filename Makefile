# stageq: one non-recursive Makefile. Objects under $(BUILD)/; `make V=1` shows commands.
# Targets: all run test test-cluster test-asan test-asan-sentinel test-valgrind test-sentinel bench deps clean format format-check
#          lint lint-banned

BUILD ?= build
CC ?= cc
PKGS := hiredis libevent libcjson uuid

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wwrite-strings -Werror
ifeq ($(SAN),1)
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  OPT := -O1 -g
else
  SANFLAGS :=
  OPT := -O2 -g
endif
override CFLAGS += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -MMD -MP \
                   -Ishared -I$(BUILD)/gen
override LDFLAGS += $(SANFLAGS)
LIBS_SHARED := -lhiredis -lcjson -luuid
LIBS_API := $(LIBS_SHARED) -levent
LIBS_WORKER := $(LIBS_SHARED) -lm

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

SHARED_SRC := shared/clock.c shared/config.c shared/err.c shared/exec_path.c shared/ids.c \
              shared/job.c shared/num.c shared/options.c shared/stagefield.c \
              shared/json.c shared/keys.c shared/log.c shared/pipeline.c shared/rargv.c \
              shared/rconn.c shared/redis_url.c shared/scripts.c shared/utf8.c shared/submit.c \
              shared/sentinel.c shared/cluster.c shared/rcluster.c shared/cron.c shared/rarena.c
LUA := shared/scripts/submit.lua shared/scripts/start.lua shared/scripts/update.lua \
       shared/scripts/finish.lua shared/scripts/retry.lua \
       shared/scripts/cancel.lua shared/scripts/heartbeat.lua shared/scripts/recover.lua \
       shared/scripts/reap.lua shared/scripts/requeue.lua shared/scripts/take.lua \
       shared/scripts/record.lua shared/scripts/hop.lua shared/scripts/lease.lua \
       shared/scripts/rerun.lua shared/scripts/submit_many.lua shared/scripts/finish_many.lua
API_SRC := api/eta.c api/main.c api/server.c api/routes.c api/jobs.c api/bulk.c api/health.c api/errors.c \
           api/sse.c api/rasync.c api/pipelines.c api/compat.c api/listing.c api/dashboard.c \
           api/metrics.c api/reply.c api/counters.c api/live.c api/schedules.c api/locate.c \
           api/queues.c api/rerun.c
WORKER_SRC := worker/main.c worker/supervisor.c worker/child.c worker/fetch.c worker/run.c worker/wredis.c \
              worker/lease.c worker/recover.c worker/stats.c worker/pipe.c worker/wake.c worker/part.c worker/order.c \
              worker/stage.c worker/stage_builtin.c worker/builtins/demo.c worker/builtins/echo.c \
              worker/builtins/blog.c worker/stage_exec.c worker/stage_serve.c
CLI_SRC := cli/main.c cli/client.c cli/job_view.c cli/bar.c cli/sse.c cli/watch.c cli/overview.c
UNIT_TESTS := test_config test_redis_url test_json test_job test_keys_ids test_demo test_log \
              test_stage_exec test_stage_serve test_pipeline test_submit test_sse_parse test_wstats \
              test_sentinel test_alloc test_err test_cluster test_cron test_live test_status_text \
              test_stagefield test_rarena

SHARED_OBJ := $(SHARED_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/scripts_gen.o
API_OBJ := $(API_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/dashboard_gen.o
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIBSTAGEQ := $(BUILD)/libstageq.a
BINS := $(BUILD)/stageq-api $(BUILD)/stageq-worker $(BUILD)/stageq
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/unit/%)
# Test programs the e2e suites drive (tests/e2e/*.c).
E2E_BINS := $(BUILD)/tests/e2e/rconn_probe

.PHONY: all run test test-build test-faults test-faults-cluster test-asan deps deps-test clean format format-check lint \
        lint-cppcheck lint-banned lint-structure deps-lint test-valgrind deps-valgrind bench deps-bench \
        test-sentinel test-cluster test-asan-sentinel

# Parallel compiles in the recipes' sub-makes (never for the deps-* targets:
# apt must not run twice at once).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

all: $(BINS)

$(BUILD)/%.o: %.c | $(BUILD)/gen/scripts_gen.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Lua sources become C strings with their SHA1, so EVALSHA needs no SCRIPT LOAD.
$(BUILD)/gen/scripts_gen.c $(BUILD)/gen/scripts_gen.h &: $(LUA) $(wildcard shared/scripts/inc/*.lua) deploy/embed-lua.sh
	@mkdir -p $(BUILD)/gen
	$(Q)sh deploy/embed-lua.sh $(BUILD)/gen/scripts_gen $(LUA)

$(BUILD)/gen/scripts_gen.o: $(BUILD)/gen/scripts_gen.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The version GET /metrics shows as stageq_build_info (git describe; override with
# `make VERSION=1.2.3`). version.h is rewritten only when the text changes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(BUILD)/gen
	$(Q)v='#define STAGEQ_VERSION "$(VERSION)"'; \
	  [ "$$(cat $@ 2>/dev/null)" = "$$v" ] || echo "$$v" >$@
$(BUILD)/api/metrics.o: $(BUILD)/gen/version.h
.PHONY: FORCE
FORCE:
# The dashboard page becomes a C string, with its ETag and the CSP hashes of
# its inline script and style (sh + coreutils: no xxd).
$(BUILD)/gen/dashboard_gen.c $(BUILD)/gen/dashboard_gen.h &: api/dashboard.html deploy/embed-html.sh
	@mkdir -p $(BUILD)/gen
	$(Q)sh deploy/embed-html.sh $(BUILD)/gen/dashboard_gen dashboard_html api/dashboard.html

$(BUILD)/gen/dashboard_gen.o: $(BUILD)/gen/dashboard_gen.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/api/dashboard.o: $(BUILD)/gen/dashboard_gen.h

$(LIBSTAGEQ): $(SHARED_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/stageq-api: $(API_OBJ) $(LIBSTAGEQ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_API)

$(BUILD)/stageq-worker: $(WORKER_OBJ) $(LIBSTAGEQ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER)

$(BUILD)/stageq: $(CLI_OBJ) $(LIBSTAGEQ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_API)

# Unit tests: cmocka, no network. test_demo also links the worker's builtins.
$(BUILD)/tests/unit/test_demo: $(BUILD)/tests/unit/test_demo.o $(BUILD)/worker/stage.o $(BUILD)/worker/stage_builtin.o \
		$(BUILD)/worker/builtins/demo.o $(BUILD)/worker/builtins/echo.o \
		$(BUILD)/worker/builtins/blog.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER) -lcmocka
$(BUILD)/tests/unit/test_stage_exec: $(BUILD)/tests/unit/test_stage_exec.o \
		$(BUILD)/worker/stage_exec.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER) -lcmocka
$(BUILD)/tests/unit/test_stage_serve: $(BUILD)/tests/unit/test_stage_serve.o \
		$(BUILD)/worker/stage_serve.o $(BUILD)/worker/stage_exec.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER) -lcmocka
$(BUILD)/tests/unit/test_wstats: $(BUILD)/tests/unit/test_wstats.o $(BUILD)/worker/stats.o \
		$(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER) -lcmocka
$(BUILD)/tests/unit/test_live: $(BUILD)/tests/unit/test_live.o $(BUILD)/api/live.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_API) -lcmocka
$(BUILD)/tests/unit/test_sse_parse: $(BUILD)/tests/unit/test_sse_parse.o $(BUILD)/cli/sse.o
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcmocka
# test_alloc fails the Nth allocation of the library's parsers: libstageq's
# malloc, calloc, realloc, strdup and free are wrapped at link time.
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=free
$(BUILD)/tests/unit/test_alloc: $(BUILD)/tests/unit/test_alloc.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) $(ALLOC_WRAP) -o $@ $^ $(LIBS_SHARED) -lcmocka -lm
$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SHARED) -lcmocka -lm

.SECONDARY: $(UNIT_TESTS:%=$(BUILD)/tests/unit/%.o) $(E2E_BINS:%=%.o)

$(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/%.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SHARED)

deps:
	$(Q)sh deploy/install-deps.sh build

deps-test:
	$(Q)sh deploy/install-deps.sh test

run: deps
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) all
	$(Q)bash deploy/run.sh

# Test tools: sq-keys prints the daemons' key names for the e2e suites (from
# shared/keys.c itself: tests/e2e/lib.sh's job_key, queue_key, ...).
TEST_TOOLS := $(BUILD)/tests/sq-keys
$(BUILD)/tests/sq-keys: $(BUILD)/tests/tools/sq_keys.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SHARED)

# The bench's baseline server (bench/floor.c: evhttp + hiredis, nothing else).
BENCH_TOOLS := $(BUILD)/bench/floor
$(BUILD)/bench/floor: $(BUILD)/bench/floor.o
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lhiredis -levent

test-build: all $(UNIT_BINS) $(E2E_BINS) $(TEST_TOOLS) $(BENCH_TOOLS)

# test: the unit tests, then every e2e suite on a single Redis, then the suites of
# CLUSTER_CI_SUITES again on a Redis Cluster (3 masters + 3 replicas of their
# own, started ahead by tests/run-all.sh). test-cluster: every suite that can
# run on a cluster (run-all.sh lists the others with their reason), on a
# cluster only. The cluster pass of `make test` is a subset for CI's 30 min
# (.ci/run took ~24 min before it): these suites took ~450 s on one Redis here
# (~4 min two at a time), the whole set ~1900 s (~16 min). They drive every
# routed path: submit/status/SSE, backlogs and a whole-cluster outage, lost
# workers, the merged listing and figures, events, hops, bad input, the
# queues' routes and scheduled jobs. (test_take_order runs on a cluster in make
# test-cluster: its take step is one slot's script, as test_worker's here.)
CLUSTER_CI_SUITES ?= $(addprefix tests/e2e/,test_jobs.sh test_bulk.sh test_worker.sh test_recovery.sh \
                     test_listing.sh test_events.sh test_metrics.sh test_hop.sh test_queues.sh \
                     test_scheduled.sh) \
                     tests/bad-input/test_bad_input.sh
test: deps-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) test-build
	$(Q)STAGEQ_CLUSTER_SUITES="$(CLUSTER_CI_SUITES)" bash tests/run-all.sh $(BUILD)

test-cluster: deps-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) test-build
	$(Q)STAGEQ_TEST_TOPOLOGY=cluster STAGEQ_SKIP_UNIT=1 bash tests/run-all.sh $(BUILD)

# bench: figures, not a test (docs/performance.md). Builds the normal -O2 binaries into
# $(BUILD)/, starts its own Redis, API and workers on free loopback ports; results in
# $(BUILD)/bench/results.json. BENCH_QUICK=1 for small counts; BENCH_RUNS, BENCH_JOBS.
deps-bench:
	$(Q)sh deploy/install-deps.sh bench

bench: deps-bench
	$(Q)$(MAKE) --no-print-directory all $(TEST_TOOLS) $(BENCH_TOOLS)
	$(Q)BUILD=$(BUILD) bash bench/run.sh

# The fault-injection suite: 5 scenarios x FAULT_JOBS (200) jobs, a few minutes.
test-faults: deps-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) all $(TEST_TOOLS)
	$(Q)BUILD=$(BUILD) bash tests/faults/run.sh

# test-faults-cluster: the Redis Cluster fault scenarios (tests/faults/cluster.sh:
# 3 masters + 3 replicas, an API and 3 pools on its redis-cluster:// URL, a
# queue of 6 partitions under a steady submitter; CLUSTER FAILOVER, kill -9 of
# a master, redis-cli --cluster reshard of a busy partition's slot), 2-3 minutes.
# SAN=1 runs them on the ASan + UBSan build in build-asan.
test-faults-cluster: deps-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) BUILD=$(SENTINEL_BUILD) all $(SENTINEL_BUILD)/tests/sq-keys
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		BUILD=$(SENTINEL_BUILD) bash tests/faults/cluster.sh

# Under the sanitizers, every suite that runs stageq's code paths. Those that
# check files against the code (deploy: compose and Dockerfile; cookbook: the
# docs' redis-cli commands; openapi: the spec against responses whose error
# paths test_bad_input and test_jobs drive), drive a browser over a static page
# (dashboard), repeat test_recovery's kills across three pools (scaling) or test
# tests/run-all.sh itself on suites of its own (runner) run in `make test` only:
# they add minutes and no code path (ASAN_SKIP= runs all).
ASAN_SKIP ?= test_deploy test_cookbook test_openapi test_dashboard test_scaling test_runner
# The two Sentinel suites mostly wait on failovers (about 5 min each):
# ASAN_SKIP_SENTINEL=1 leaves them out of test-asan, test-asan-sentinel runs
# them alone (.ci/run keeps them in test-asan: see there).
ASAN_SENTINEL := test_sentinel_api test_sentinel_worker
ASAN_SUITES = $(filter-out $(ASAN_SKIP:%=tests/e2e/%.sh) \
                $(if $(filter 1,$(ASAN_SKIP_SENTINEL)),$(ASAN_SENTINEL:%=tests/e2e/%.sh)), \
                $(sort $(wildcard tests/e2e/test_*.sh))) \
              $(wildcard tests/bad-input/test_*.sh)
# The cluster code paths (slot routing, redirections) under the sanitizers: none
# in CI (its budget), ASAN_CLUSTER_SUITES="tests/e2e/test_jobs.sh ..." runs them.
ASAN_CLUSTER_SUITES ?=

test-asan: deps-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-asan SAN=1 test-build
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 STAGEQ_SUITES="$(ASAN_SUITES)" \
		STAGEQ_TEST_TOPOLOGY="single$(if $(strip $(ASAN_CLUSTER_SUITES)), cluster)" \
		STAGEQ_CLUSTER_SUITES="$(ASAN_CLUSTER_SUITES)" bash tests/run-all.sh build-asan

test-asan-sentinel:
	$(Q)STAGEQ_SKIP_UNIT=1 $(MAKE) --no-print-directory test-asan ASAN_SKIP_SENTINEL= \
		ASAN_SUITES="$(ASAN_SENTINEL:%=tests/e2e/%.sh)" ASAN_CLUSTER_SUITES=

# test-sentinel: the failover scenarios (tests/sentinel/run.sh: a real Sentinel
# group, an API and worker pools on its redis-sentinel:// URL, a steady
# submitter; SENTINEL FAILOVER, kill -9, SIGSTOP of the master), a few minutes.
# SAN=1 runs them on the ASan + UBSan build in build-asan.
SENTINEL_BUILD := $(if $(filter 1,$(SAN)),build-asan,$(BUILD))
test-sentinel: deps-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) BUILD=$(SENTINEL_BUILD) all $(SENTINEL_BUILD)/tests/sq-keys
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		BUILD=$(SENTINEL_BUILD) bash tests/sentinel/run.sh

# test-valgrind: the e2e suites of VALGRIND_SUITES with every stageq daemon and
# its forked children under memcheck (lib.sh puts STAGEQ_WRAP in front of
# them); the stage programs a worker execs are not traced. Logs go to a temp
# dir (run-all.sh removes its own); any error, definite or indirect leak or
# crash fails the run, and the logs are then kept.
VALGRIND_SUITES ?= tests/e2e/test_jobs.sh tests/e2e/test_worker.sh tests/e2e/test_exec.sh
VALGRIND_FLAGS := --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --track-fds=no --trace-children=yes --child-silent-after-fork=no --vgdb=no \
  --trace-children-skip=*/python*,*.py,*/sh,*/dash,*/bash,*.sh,*/sleep,*/yes,*/env,*/cat \
  --suppressions=$(CURDIR)/tests/valgrind.supp --log-file=%q{STAGEQ_VG_DIR}/vg.%p.log

deps-valgrind:
	$(Q)sh deploy/install-deps.sh valgrind

test-valgrind: deps-test deps-valgrind
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) test-build
	$(Q)t0=$$(date +%s); vg=$$(mktemp -d /tmp/stageq-vg.XXXXXX); \
	STAGEQ_VG_DIR=$$vg STAGEQ_SUITES="$(VALGRIND_SUITES)" STAGEQ_WRAP="valgrind $(VALGRIND_FLAGS)" STAGEQ_SKIP_UNIT=1 \
	STAGEQ_TEST_TOPOLOGY=single \
		bash tests/run-all.sh $(BUILD); rc=$$?; \
	STAGEQ_TEST_TMP=$$vg bash -c 'source tests/e2e/lib.sh && valgrind_report "$$STAGEQ_TEST_TMP"' || rc=1; \
	echo "test-valgrind: $$(($$(date +%s) - t0)) s"; \
	if [ $$rc -eq 0 ]; then rm -rf "$$vg"; else echo "valgrind logs kept in $$vg"; fi; exit $$rc

clean:
	rm -rf build build-asan build-fuzz

# format-check and lint are quick (seconds) and run first in .ci/run. `lint` is
# the sum of its lint-* prerequisites: a new check is one more `lint: lint-x` rule.
FORMAT_FILES = $(wildcard shared/*.[ch] api/*.[ch] cli/*.[ch] worker/*.[ch] worker/builtins/*.[ch] \
                 tests/unit/*.c tests/tools/*.c bench/*.c)
deps-lint:
	$(Q)sh deploy/install-deps.sh lint

format: | deps-lint
	clang-format -i $(FORMAT_FILES)
format-check: | deps-lint
	clang-format --dry-run --Werror $(FORMAT_FILES)

lint: lint-cppcheck lint-banned lint-structure
lint-cppcheck: | deps-lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		-Ishared --suppress=missingIncludeSystem $(SHARED_SRC) $(API_SRC) $(WORKER_SRC) $(CLI_SRC)
# Calls STYLE.md bans from production code: snprintf (checked for truncation)
# and num.h's bounded parsers instead.
BANNED_CALLS := strcpy|strcat|sprintf|vsprintf|atoi|atol|atoll|atof|gets
lint-banned:
	$(Q)! grep -nE '\b($(BANNED_CALLS))[[:space:]]*\(' $(SHARED_SRC) $(API_SRC) $(WORKER_SRC) \
		$(CLI_SRC) $(wildcard shared/*.h api/*.h worker/*.h cli/*.h) || \
		{ echo "lint-banned: the calls above are banned (STYLE.md: Errors)" >&2; exit 1; }
# lint-structure: no call circle among the files of api/ or of worker/ (from the objects'
# symbol tables; tests/structure/calls.sh -v BUILD prints the whole graph).
lint-structure: $(API_OBJ) $(WORKER_OBJ)
	$(Q)bash tests/structure/test_calls.sh >/dev/null
	$(Q)bash tests/structure/calls.sh $(BUILD) api worker

# ---- Fuzzing: libFuzzer targets in tests/fuzz/ (docs/fuzzing.md); never part of `make test`.
# Each binary is built with clang straight from its sources into $(FUZZ_BUILD)/, so no gcc
# object is mixed in. `fuzz` fuzzes each target for FUZZ_SECONDS on a copy of its seed corpus
# (new inputs stay in $(FUZZ_BUILD)/corpus/, crashes go to $(FUZZ_BUILD)/artifacts/);
# tests/fuzz/<target>.dict, when present, is passed as -dict. `fuzz-smoke` and `fuzz-regress`
# only run the seed and the regression inputs once.
FUZZ_BUILD := build-fuzz
FUZZ_CC := clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1 \
               -std=c11 -D_GNU_SOURCE -Ishared -I$(BUILD)/gen -Iworker
FUZZ_RUN_FLAGS := -timeout=10 -rss_limit_mb=2048
FUZZ_TARGETS := fuzz_json fuzz_submit fuzz_progress fuzz_pipelines fuzz_redis_url fuzz_answer \
                fuzz_cron fuzz_stagefield
FUZZ_SRC_fuzz_json := shared/json.c shared/utf8.c
FUZZ_SRC_fuzz_submit := shared/submit.c shared/pipeline.c shared/json.c shared/utf8.c shared/ids.c shared/err.c shared/exec_path.c \
                       shared/cron.c shared/keys.c shared/cluster.c shared/num.c shared/clock.c
FUZZ_SRC_fuzz_progress := worker/stage_exec.c shared/json.c shared/utf8.c shared/log.c shared/clock.c shared/exec_path.c \
                         shared/num.c shared/err.c
FUZZ_SRC_fuzz_pipelines := shared/pipeline.c shared/json.c shared/utf8.c shared/ids.c shared/err.c shared/exec_path.c \
                          shared/cron.c shared/keys.c shared/cluster.c shared/num.c
FUZZ_SRC_fuzz_cron := shared/cron.c shared/err.c
FUZZ_SRC_fuzz_stagefield := shared/stagefield.c shared/job.c shared/keys.c shared/num.c shared/rargv.c \
                           shared/clock.c shared/json.c shared/utf8.c shared/pipeline.c shared/ids.c \
                           shared/err.c shared/exec_path.c shared/cron.c shared/cluster.c
FUZZ_SRC_fuzz_redis_url := shared/redis_url.c shared/config.c shared/num.c shared/err.c
FUZZ_SRC_fuzz_answer := worker/stage_serve.c worker/stage_exec.c shared/json.c shared/utf8.c \
                       shared/log.c shared/clock.c shared/exec_path.c shared/num.c shared/err.c
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

.PHONY: fuzz fuzz-smoke fuzz-regress fuzz-build fuzz-deps

fuzz-deps:
	$(Q)sh deploy/install-deps.sh fuzz

fuzz-build: $(FUZZ_BINS)

define FUZZ_RULE
$(FUZZ_BUILD)/$(1): tests/fuzz/$(1).c $(FUZZ_SRC_$(1)) $(wildcard shared/*.h) $(wildcard worker/stage_*.h)
	@mkdir -p $(FUZZ_BUILD)
	@$$(if $$(Q),echo "  FUZZCC  $$@")
	$$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ $$< $(FUZZ_SRC_$(1)) $(LIBS_SHARED) -lm
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

fuzz: fuzz-deps
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	$(Q)fail=""; for t in $(FUZZ_TARGETS); do \
	  c=$(FUZZ_BUILD)/corpus/$$t; a=$(FUZZ_BUILD)/artifacts/$$t; log=$(FUZZ_BUILD)/$$t.log; \
	  mkdir -p $$c $$a && cp tests/fuzz/corpus/$$t/* $$c/ || exit 1; \
	  dict=; [ ! -f tests/fuzz/$$t.dict ] || dict=-dict=tests/fuzz/$$t.dict; \
	  echo "  FUZZ    $$t ($(FUZZ_SECONDS) s)"; \
	  if $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN_FLAGS) $$dict \
	      -print_final_stats=1 -artifact_prefix=$$a/ $$c >$$log 2>&1; then \
	    grep -aE '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed|average_exec)' $$log | \
	      sed 's/^/    /'; \
	  else \
	    tail -n 40 $$log; \
	    echo "  FUZZ    $$t FAILED (log: $$log; a crashing input is in $$a/)"; \
	    fail="$$fail $$t"; \
	  fi; \
	done; \
	[ -z "$$fail" ] || { echo "fuzz: failed:$$fail"; exit 1; }

# Runs each target once over every file of $(1)/<target>/ (README* skipped); no fuzzing.
FUZZ_RUN_INPUTS = fail=""; for t in $(FUZZ_TARGETS); do \
	  files=$$(find $(1)/$$t -type f ! -name 'README*' ! -name '.*' 2>/dev/null | sort); \
	  if [ -z "$$files" ]; then echo "  FUZZRUN $$t: no inputs in $(1)/$$t"; continue; fi; \
	  mkdir -p $(FUZZ_BUILD)/artifacts/$$t; \
	  if $(FUZZ_BUILD)/$$t $(FUZZ_RUN_FLAGS) -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	      $$files >$(FUZZ_BUILD)/$$t.run.log 2>&1; then \
	    echo "  FUZZRUN $$t: $$(echo $$files | wc -w) inputs of $(1)/$$t ok"; \
	  else \
	    tail -n 40 $(FUZZ_BUILD)/$$t.run.log; fail="$$fail $$t"; \
	  fi; \
	done; \
	[ -z "$$fail" ] || { echo "failed:$$fail"; exit 1; }

fuzz-smoke: fuzz-deps
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	$(Q)$(call FUZZ_RUN_INPUTS,tests/fuzz/corpus)

fuzz-regress: fuzz-deps
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	$(Q)$(call FUZZ_RUN_INPUTS,tests/fuzz/regress)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
