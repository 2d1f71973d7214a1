# stageq: one non-recursive Makefile. Objects under $(BUILD)/; `make V=1` shows commands.
# Targets: all run test test-asan deps clean format format-check lint

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

SHARED_SRC := shared/clock.c shared/config.c shared/err.c shared/ids.c shared/job.c \
              shared/json.c shared/keys.c shared/log.c shared/pipeline.c shared/rargv.c \
              shared/rconn.c shared/redis_url.c shared/scripts.c
LUA := shared/scripts/submit.lua shared/scripts/start.lua shared/scripts/update.lua \
       shared/scripts/finish.lua shared/scripts/retry.lua shared/scripts/promote.lua \
       shared/scripts/cancel.lua
API_SRC := api/main.c api/server.c api/routes.c api/jobs.c api/health.c api/errors.c \
           api/rasync.c api/pipelines.c
WORKER_SRC := worker/main.c worker/supervisor.c worker/fetch.c worker/run.c worker/wredis.c \
              worker/stage_builtin.c worker/builtins/demo.c worker/builtins/echo.c \
              worker/stage_exec.c
UNIT_TESTS := test_config test_redis_url test_json test_job test_keys_ids test_demo \
              test_stage_exec test_pipeline

SHARED_OBJ := $(SHARED_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/scripts_gen.o
API_OBJ := $(API_SRC:%.c=$(BUILD)/%.o)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
LIBSTAGEQ := $(BUILD)/libstageq.a
BINS := $(BUILD)/stageq-api $(BUILD)/stageq-worker
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/unit/%)

.PHONY: all run test test-build test-asan deps deps-test clean format format-check lint

all: $(BINS)

$(BUILD)/%.o: %.c | $(BUILD)/gen/scripts_gen.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Lua sources become C strings with their SHA1, so EVALSHA needs no SCRIPT LOAD.
$(BUILD)/gen/scripts_gen.c $(BUILD)/gen/scripts_gen.h: $(LUA) deploy/embed-lua.sh
	@mkdir -p $(BUILD)/gen
	$(Q)sh deploy/embed-lua.sh $(BUILD)/gen/scripts_gen $(LUA)

$(BUILD)/gen/scripts_gen.o: $(BUILD)/gen/scripts_gen.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIBSTAGEQ): $(SHARED_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/stageq-api: $(API_OBJ) $(LIBSTAGEQ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_API)

$(BUILD)/stageq-worker: $(WORKER_OBJ) $(LIBSTAGEQ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER)

# Unit tests: cmocka, no network. test_demo also links the worker's builtins.
$(BUILD)/tests/unit/test_demo: $(BUILD)/tests/unit/test_demo.o $(BUILD)/worker/stage_builtin.o \
		$(BUILD)/worker/builtins/demo.o $(BUILD)/worker/builtins/echo.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER) -lcmocka
$(BUILD)/tests/unit/test_stage_exec: $(BUILD)/tests/unit/test_stage_exec.o \
		$(BUILD)/worker/stage_exec.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_WORKER) -lcmocka
$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBSTAGEQ)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_SHARED) -lcmocka -lm

.SECONDARY: $(UNIT_TESTS:%=$(BUILD)/tests/unit/%.o)

deps:
	$(Q)sh deploy/install-deps.sh build

deps-test:
	$(Q)sh deploy/install-deps.sh test

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash deploy/run.sh

test-build: all $(UNIT_BINS)

test: deps-test
	$(Q)$(MAKE) --no-print-directory test-build
	$(Q)bash tests/run-all.sh $(BUILD)

test-asan: deps-test
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test-build
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 bash tests/run-all.sh build-asan

clean:
	rm -rf build build-asan

FORMAT_FILES = $(wildcard shared/*.[ch] api/*.[ch] worker/*.[ch] worker/builtins/*.[ch] \
                 tests/unit/*.c)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		-Ishared --suppress=missingIncludeSystem $(SHARED_SRC) $(API_SRC) $(WORKER_SRC)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
