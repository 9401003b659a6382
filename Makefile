# qlb build. Everything lands in build/; `make V=1` shows the commands.
.DELETE_ON_ERROR:
.SUFFIXES:
# Keep objects and skeletons: they are prerequisites, not leftovers.
.SECONDARY:

OUT      := build
.DEFAULT_GOAL := all
CLANG    ?= clang
CC       ?= gcc
BPFTOOL  ?= bpftool
PKGS     := libbpf libxdp libnl-route-3.0 libnl-3.0 jansson libxxhash zlib libmicrohttpd libcurl

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
	-Wall -Werror -Iinclude -Ivmlinux -Ibpf -MMD -MP
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -MMD -MP -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
LDLIBS    = $(PKG_LIBS) -lelf -lm
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The libraries' flags come from pkg-config, which can only answer once
# scripts/deps.sh has installed their -dev packages. On a fresh machine that
# happens after make has read this file, so the flags live in a generated
# makefile: make builds it (deps first), then restarts and reads it. Goals
# that build nothing do not install anything.
CONFIG_MK := $(OUT)/config.mk
ifneq ($(filter-out clean deps,$(or $(MAKECMDGOALS),all)),)
include $(CONFIG_MK)
endif

$(CONFIG_MK): scripts/deps.sh Makefile
	$(Q)bash scripts/deps.sh
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D) && cflags=$$(pkg-config --cflags $(PKGS)) && libs=$$(pkg-config --libs $(PKGS)) && \
		printf 'PKG_CFLAGS := %s\nPKG_LIBS := %s\n' "$$cflags" "$$libs" >$@

# The layers of agent/, one folder each. A folder sees only the headers of
# the layers below it, so an include against the direction fails to build:
#   cli -> control -> core -> util, include/
#   cli, control -> model -> util, include/
LAYERS      := util core model control cli
INC_util    := -Iagent/util
INC_core    := $(INC_util) -Iagent/core -I$(OUT)/skel
INC_model   := $(INC_util) -Iagent/model
INC_control := $(INC_core) -Iagent/model -Iagent/control
INC_cli     := $(INC_control) -Iagent/cli
# Tests and benchmarks see every layer.
INC_ALL     := $(INC_cli)

# The data plane (bpf/) and the BPF programs of the tests and benchmarks
# (tests/bpf/), each with its skeleton.
BPF_SRCS   := $(wildcard bpf/*.bpf.c tests/bpf/*.bpf.c)
BPF_OBJS   := $(patsubst %.bpf.c,$(OUT)/bpf/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS      := $(patsubst %.bpf.c,$(OUT)/skel/%.skel.h,$(notdir $(BPF_SRCS)))
LIB_SRCS   := $(filter-out agent/cli/main.c,$(foreach l,$(LAYERS),$(wildcard agent/$(l)/*.c)))
LIB_OBJS   := $(patsubst agent/%.c,$(OUT)/obj/%.o,$(LIB_SRCS))
SAN_OBJS   := $(patsubst agent/%.c,$(OUT)/san/%.o,$(LIB_SRCS))
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
# Shared test helpers (harnesses), linked into every unit test.
UNIT_HELPERS := $(patsubst tests/unit/%.c,$(OUT)/tests/helpers/%.o,\
	$(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c)))
UNIT_BINS  := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(OUT)/bench/%,$(BENCH_SRCS))
E2E_TESTS  := $(sort $(wildcard tests/e2e/*.bats tests/e2e/*.sh))
# eval/: the evaluation's load generator; its pure half is unit-tested.
LOADGEN_OBJS := $(OUT)/eval/loadgen.o $(OUT)/eval/loadgen_sched.o
INC_eval   := $(INC_model) -Ieval

.PHONY: all deps test unit e2e bench demo eval clean install fuzz soak
all: $(OUT)/qlb $(OUT)/qlb-loadgen

deps:
	$(Q)bash scripts/deps.sh

vmlinux/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)vmlinux/gen-vmlinux.sh $@

vpath %.bpf.c bpf tests/bpf

$(OUT)/bpf/%.bpf.o: %.bpf.c vmlinux/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D) && $(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/skel/%.skel.h: $(OUT)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)mkdir -p $(@D) && $(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# An agent object is compiled with its layer's include paths: the layer is
# the first part of its path under agent/.
layer_inc = $(INC_$(firstword $(subst /, ,$(1))))

$(OUT)/obj/%.o: agent/%.c $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(call layer_inc,$*) -c $< -o $@

$(OUT)/san/%.o: agent/%.c $(SKELS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(SAN_FLAGS) $(call layer_inc,$*) -c $< -o $@

$(OUT)/libqlb.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $^

$(OUT)/libqlb-san.a: $(SAN_OBJS)
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $^

$(OUT)/qlb: agent/cli/main.c $(OUT)/libqlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(INC_cli) $< $(OUT)/libqlb.a $(LDLIBS) -o $@

$(OUT)/eval/%.o: eval/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(INC_eval) -c $< -o $@

$(OUT)/eval-san/%.o: eval/%.c
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(SAN_FLAGS) $(INC_eval) -c $< -o $@

$(OUT)/qlb-loadgen: $(LOADGEN_OBJS) $(OUT)/libqlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LOADGEN_OBJS) $(OUT)/libqlb.a $(LDLIBS) -o $@

# Unit tests run under ASan/UBSan.
$(OUT)/tests/helpers/%.o: tests/unit/%.c $(SKELS)
	$(call msg,TEST-CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(SAN_FLAGS) $(INC_ALL) -Itests/unit -c $< -o $@

$(OUT)/tests/%: tests/unit/%.c $(UNIT_HELPERS) $(OUT)/libqlb-san.a
	$(call msg,TEST-CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(SAN_FLAGS) $(INC_ALL) -Itests/unit $(UNIT_EXTRA) $< \
		$(UNIT_HELPERS) $(OUT)/libqlb-san.a $(LDLIBS) -lcmocka -o $@

# Extra include path and objects of one test: test_loadgen tests eval/.
$(OUT)/tests/test_loadgen: UNIT_EXTRA = -Ieval $(OUT)/eval-san/loadgen_sched.o
$(OUT)/tests/test_loadgen: $(OUT)/eval-san/loadgen_sched.o

# Benches share the data-plane harness of the unit tests, built without
# sanitizers (the other helpers need cmocka).
BENCH_HELPERS := $(OUT)/bench/helpers/dp_harness.o

$(OUT)/bench/helpers/%.o: tests/unit/%.c $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(INC_ALL) -Itests/unit -c $< -o $@

$(OUT)/bench/%: tests/bench/%.c $(BENCH_HELPERS) $(OUT)/libqlb.a
	$(call msg,BENCH-CC,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(CFLAGS) $(INC_ALL) -Itests/unit $< $(BENCH_HELPERS) \
		$(OUT)/libqlb.a $(LDLIBS) -o $@

# `make test`: unit tests (cmocka, TAP), the layering check and end-to-end
# tests (bats, TAP in network namespaces), under one prove run so CI reads
# one summary.
test: deps $(OUT)/qlb $(OUT)/qlb-loadgen $(UNIT_BINS)
	$(Q)CMOCKA_MESSAGE_OUTPUT=TAP QLB=$(abspath $(OUT)/qlb) QLB_BUILD=$(abspath $(OUT)) \
		prove --timer -v $(UNIT_BINS) tests/lint/layers.py $(E2E_TESTS)

unit: $(OUT)/qlb $(UNIT_BINS)
	$(Q)CMOCKA_MESSAGE_OUTPUT=TAP QLB_BUILD=$(abspath $(OUT)) prove --timer -v $(UNIT_BINS) \
		tests/lint/layers.py

e2e: $(OUT)/qlb $(OUT)/qlb-loadgen
	$(Q)QLB=$(abspath $(OUT)/qlb) QLB_BUILD=$(abspath $(OUT)) prove --timer -v $(E2E_TESTS)

# The packet fuzzer at full size (make test runs 200,000 packets of it).
FUZZ_PACKETS ?= 10000000
fuzz: deps $(OUT)/tests/test_fuzz
	$(Q)FUZZ_PACKETS=$(FUZZ_PACKETS) $(OUT)/tests/test_fuzz

# The flood test at full size, with weight churn, agent kills and a backend
# failure at once (tests/e2e/flood.bats).
soak: deps $(OUT)/qlb
	$(Q)SOAK=1 FLOOD_SYNS=$${FLOOD_SYNS:-1310720} QLB=$(abspath $(OUT)/qlb) \
		bats --show-output-of-passing-tests tests/e2e/flood.bats

bench: deps $(OUT)/qlb $(BENCH_BINS)
	$(Q)for b in $(BENCH_BINS); do QLB_BUILD=$(abspath $(OUT)) $$b || exit 1; done

demo: deps $(OUT)/qlb
	$(Q)QLB=$(abspath $(OUT)/qlb) bash scripts/demo.sh

# `make eval [PROFILE=quick|standard|full]`: the DLBQT experiment on the
# testbed, report in build/eval/PROFILE/report.md.
PROFILE ?= quick
eval: deps $(OUT)/qlb $(OUT)/qlb-loadgen
	$(Q)QLB=$(abspath $(OUT)/qlb) LOADGEN=$(abspath $(OUT)/qlb-loadgen) \
		bash scripts/eval.sh --profile $(PROFILE)

install: $(OUT)/qlb
	install -D -m 0755 $(OUT)/qlb $(DESTDIR)/usr/local/sbin/qlb

clean:
	$(Q)rm -rf $(OUT)

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)
