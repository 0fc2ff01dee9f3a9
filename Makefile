# SPDX-License-Identifier: GPL-2.0
#
# pvkit top-level Makefile (non-recursive).
#
# Everything is built into build/ ; the source tree is never written to.
#
# Per-directory fragments
# -----------------------
# The following files are included if they exist:
#   lib/build.mk hypervisor/build.mk userspace/build.mk backends/build.mk
#   selftests/host/build.mk selftests/guest/build.mk
# A fragment only appends to the variables below; it writes no rules.
# All paths are relative to the top of the repository.
#
#   HOST_LIB_SRCS += lib/foo.c
#	Compiled into build/lib/libpvkit-host.a (and, per sanitizer
#	variant V, build/lib/V/libpvkit-host.a), which is linked into every
#	host program and host test.
#
#   HOST_PROGS += pvkit-hv
#   pvkit-hv_SRCS := hypervisor/main.c hypervisor/ivshmem.c
#   pvkit-hv_LDLIBS := -luring			(optional)
#	-> build/bin/pvkit-hv, built with CFLAGS.
#
#   HOST_TESTS += ring
#   ring_SRCS := selftests/host/ring.c
#   ring_LDLIBS := -lfoo			(optional)
#   ring_VARIANTS := plain asan tsan		(optional, default: plain asan)
#	-> build/tests/host/<variant>/ring.  Variants:
#	   plain: CFLAGS
#	   asan:  -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
#		  -fno-sanitize-recover=all
#	   tsan:  -O1 -g -fsanitize=thread
#	Host tests include "kselftest_harness.h" (from build/ksft/).
#	Run them with 'make check-host'.
#
#   GUEST_TESTS += hypercall
#   hypercall_SRCS := selftests/guest/hypercall.c
#   hypercall_LDLIBS := ...			(optional)
#	-> build/guest/tests/hypercall, linked -static with gcc, copied into
#	the guest image as /selftests/hypercall.  Run them with 'make check-vm'.
#	Include path: build/ksft, hypercall-abi/include, guest-kmod/include,
#	lib/include.
#
#   Anything placed under build/guest/extra/ is overlaid onto the root of
#   the guest initramfs (e.g. build/guest/extra/usr/bin/tool ->
#   /usr/bin/tool).  A fragment may add a rule producing such a file and
#   append it to GUEST_EXTRA so 'make guest' builds it first.
#
#   Benchmarks: fragments may define their own 'bench-<name>' targets and
#   append them to BENCH_TARGETS ('make bench' runs them all).
#
# Guest kernel modules are listed in the top-level Kbuild file.
#
# Objects go to build/obj/<variant>/<path>.o (variant: plain, asan, tsan,
# guest), with automatic header dependencies (-MMD -MP).

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD := build

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
AR ?= ar
SAN_CC ?= $(CC)
GUEST_CC ?= gcc

CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	  -Ihypercall-abi/include -Ilib/include -isystem $(BUILD)/ksft \
	  $(EXTRA_CFLAGS)
LDFLAGS ?=
LDLIBS ?=

# Sanitizer variants.
VARIANTS := plain asan tsan
DEFAULT_VARIANTS := plain asan

CC_plain := $(CC)
CFLAGS_plain := $(CFLAGS)
LDFLAGS_plain := $(LDFLAGS)

CC_asan := $(SAN_CC)
CFLAGS_asan := $(filter-out -O%,$(CFLAGS)) -O1 -g \
	       -fsanitize=address,undefined -fno-omit-frame-pointer \
	       -fno-sanitize-recover=all
LDFLAGS_asan := $(LDFLAGS) -fsanitize=address,undefined

CC_tsan := $(SAN_CC)
# GCC's TSan does not instrument the memcpy/memset it expands inline, and
# rings and mailboxes move every slot with them: without these flags a
# missing release on a shared index goes unreported.
CFLAGS_tsan := $(filter-out -O%,$(CFLAGS)) -O1 -g -fsanitize=thread \
	-fno-builtin-memcpy -fno-builtin-memset
LDFLAGS_tsan := $(LDFLAGS) -fsanitize=thread

CC_guest := $(GUEST_CC)
CFLAGS_guest := $(CFLAGS) -Iguest-kmod/include
LDFLAGS_guest := $(LDFLAGS) -static

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Target kernel (Debian ABI version of the installed headers, not uname -r).
# Recursively expanded so it is only computed when needed.
KVER ?= $(shell scripts/kver.sh)
KDIR ?= /lib/modules/$(KVER)/build

# ---------------------------------------------------------------------------
# Fragments.

HOST_LIB_SRCS :=
HOST_PROGS :=
HOST_TESTS :=
GUEST_TESTS :=
GUEST_EXTRA :=
BENCH_TARGETS :=

FRAGMENTS := lib/build.mk hypervisor/build.mk userspace/build.mk \
	     backends/build.mk selftests/host/build.mk selftests/guest/build.mk
-include $(wildcard $(FRAGMENTS))

# ---------------------------------------------------------------------------
# kselftest harness and checkpatch, extracted from linux-source-6.1.

LINUX_SRC_TAR := /usr/src/linux-source-6.1.tar.xz
KSFT_HDRS := $(BUILD)/ksft/kselftest_harness.h $(BUILD)/ksft/kselftest.h
CHECKPATCH_DIR := $(BUILD)/linux-source-6.1/scripts
CHECKPATCH_FILES := $(CHECKPATCH_DIR)/checkpatch.pl \
		    $(CHECKPATCH_DIR)/spelling.txt \
		    $(CHECKPATCH_DIR)/const_structs.checkpatch
EXTRACT_STAMP := $(BUILD)/linux-source-6.1/.extracted

$(EXTRACT_STAMP):
	@if [ ! -f $(LINUX_SRC_TAR) ]; then \
		echo "$(LINUX_SRC_TAR) missing: run 'make deps'" >&2; exit 1; fi
	@echo "  EXTRACT kselftest harness + checkpatch"
	$(Q)rm -rf $(BUILD)/linux-source-6.1/tmp && \
	mkdir -p $(BUILD)/linux-source-6.1/tmp $(BUILD)/ksft $(CHECKPATCH_DIR) && \
	tar -xJf $(LINUX_SRC_TAR) -C $(BUILD)/linux-source-6.1/tmp \
		--strip-components=1 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch && \
	cp $(BUILD)/linux-source-6.1/tmp/tools/testing/selftests/kselftest*.h \
		$(BUILD)/ksft/ && \
	cp $(BUILD)/linux-source-6.1/tmp/scripts/* $(CHECKPATCH_DIR)/ && \
	rm -rf $(BUILD)/linux-source-6.1/tmp && \
	touch $@

$(KSFT_HDRS) $(CHECKPATCH_FILES): $(EXTRACT_STAMP)
	@:

.PHONY: ksft
ksft: $(KSFT_HDRS)
	@:

# ---------------------------------------------------------------------------
# Host and guest C code.

src2obj = $(patsubst %.c,$(BUILD)/obj/$(2)/%.o,$(1))

# $(1) = variant
define obj_rule
$(BUILD)/obj/$(1)/%.o: %.c | $(KSFT_HDRS)
	@mkdir -p $$(@D)
	@echo "  CC [$(1)] $$<"
	$$(Q)$$(CC_$(1)) $$(CFLAGS_$(1)) -MMD -MP -c -o $$@ $$<
endef
$(foreach v,$(VARIANTS) guest,$(eval $(call obj_rule,$(v))))

# libpvkit-host.a per variant; empty HOST_LIB_SRCS means no library.
HOST_LIB_plain := $(BUILD)/lib/libpvkit-host.a
HOST_LIB_asan := $(BUILD)/lib/asan/libpvkit-host.a
HOST_LIB_tsan := $(BUILD)/lib/tsan/libpvkit-host.a

define lib_rule
$$(HOST_LIB_$(1)): $(call src2obj,$(HOST_LIB_SRCS),$(1))
	@mkdir -p $$(@D)
	@echo "  AR [$(1)] $$@"
	$$(Q)rm -f $$@ && $$(AR) rcs $$@ $$^
endef
ifneq ($(strip $(HOST_LIB_SRCS)),)
$(foreach v,$(VARIANTS),$(eval $(call lib_rule,$(v))))
LIBDEP = $(HOST_LIB_$(1))
else
LIBDEP =
endif

ALL_OBJS :=

# $(1) = program
define prog_rule
$(BUILD)/bin/$(1): $(call src2obj,$($(1)_SRCS),plain) $(call LIBDEP,plain)
	@mkdir -p $$(@D)
	@echo "  LD $$@"
	$$(Q)$$(CC_plain) $$(LDFLAGS_plain) -o $$@ $$^ $$($(1)_LDLIBS) $$(LDLIBS) -lpthread
ALL_OBJS += $(call src2obj,$($(1)_SRCS),plain)
endef
$(foreach p,$(HOST_PROGS),$(eval $(call prog_rule,$(p))))

# $(1) = test, $(2) = variant
define test_rule
$(BUILD)/tests/host/$(2)/$(1): $(call src2obj,$($(1)_SRCS),$(2)) $(call LIBDEP,$(2))
	@mkdir -p $$(@D)
	@echo "  LD [$(2)] $$@"
	$$(Q)$$(CC_$(2)) $$(LDFLAGS_$(2)) -o $$@ $$^ $$($(1)_LDLIBS) $$(LDLIBS) -lpthread
ALL_OBJS += $(call src2obj,$($(1)_SRCS),$(2))
HOST_TEST_BINS += $(BUILD)/tests/host/$(2)/$(1)
endef
HOST_TEST_BINS :=
$(foreach t,$(HOST_TESTS),$(foreach v,$(or $($(t)_VARIANTS),$(DEFAULT_VARIANTS)),\
	$(eval $(call test_rule,$(t),$(v)))))

# $(1) = guest test
define guest_test_rule
$(BUILD)/guest/tests/$(1): $(call src2obj,$($(1)_SRCS),guest)
	@mkdir -p $$(@D)
	@echo "  LD [guest] $$@"
	$$(Q)$$(CC_guest) $$(LDFLAGS_guest) -o $$@ $$^ $$($(1)_LDLIBS) -lpthread
ALL_OBJS += $(call src2obj,$($(1)_SRCS),guest)
endef
$(foreach t,$(GUEST_TESTS),$(eval $(call guest_test_rule,$(t))))

ALL_OBJS += $(foreach v,$(VARIANTS),$(call src2obj,$(HOST_LIB_SRCS),$(v)))
-include $(ALL_OBJS:.o=.d)

HOST_PROG_BINS := $(addprefix $(BUILD)/bin/,$(HOST_PROGS))
GUEST_TEST_BINS := $(addprefix $(BUILD)/guest/tests/,$(GUEST_TESTS))

# ---------------------------------------------------------------------------
# Top-level targets.

.PHONY: all deps host host-tests guest-tests modules guest run check \
	check-host check-vm checkpatch clean distclean bench fuzz fuzz-smoke \
	soak

all: host modules ksft
	@:

deps:
	@scripts/deps.sh

host: $(HOST_PROG_BINS) $(if $(HOST_LIB_SRCS),$(HOST_LIB_plain)) ksft
	@:

host-tests: $(HOST_TEST_BINS) ksft
	@:

guest-tests: $(GUEST_TEST_BINS)
	@:

# Guest kernel modules: out-of-tree build against KDIR in a symlink mirror
# (build/kmod) so no build artifacts land in the source tree.  The mirror
# is refreshed on every run so new source files are picked up and deleted
# ones dropped.  Module BTF is not generated (the headers package has no
# vmlinux to base it on).
KMOD_DIR := $(BUILD)/kmod
KMOD_SRCS := Kbuild guest-kmod hypercall-abi/include

modules:
	@if [ ! -d "$(KDIR)" ]; then \
		echo "KDIR $(KDIR) not found: run 'make deps'" >&2; exit 1; fi
	$(Q)mkdir -p $(KMOD_DIR)/hypercall-abi $(BUILD)/modules
	$(Q)for s in $(KMOD_SRCS); do \
		[ -e "$$s" ] || continue; \
		mkdir -p "$(KMOD_DIR)/$$(dirname $$s)"; \
		cp -rsf "$(CURDIR)/$$s" "$(KMOD_DIR)/$$(dirname $$s)/"; \
	done
	$(Q)find $(KMOD_DIR) -xtype l -delete
	$(Q)$(MAKE) --no-print-directory -C $(KDIR) M=$(CURDIR)/$(KMOD_DIR) \
		CONFIG_DEBUG_INFO_BTF_MODULES= modules
	$(Q)sed 's/\.o$$/.ko/' $(KMOD_DIR)/modules.order | \
		while read -r m; do \
			case "$$m" in /*) ;; *) m="$(KMOD_DIR)/$$m";; esac; \
			d=$(BUILD)/modules/$$(basename $$m); \
			cmp -s "$$m" "$$d" || cp -p "$$m" "$$d"; \
			echo "$$d"; \
		done > $(KMOD_DIR)/.installed
	$(Q)for k in $(BUILD)/modules/*.ko; do \
		[ -e "$$k" ] || continue; \
		grep -qxF "$$k" $(KMOD_DIR)/.installed || rm -f "$$k"; \
	done

guest: modules guest-tests $(GUEST_EXTRA)
	@scripts/mkinitramfs.sh

# 'make run' boots a shell; 'make run CMD=...' runs CMD (the variable is
# passed through the environment, so any quoting in it survives).
# The default guest gets a scratch disk, /dev/pvda: a sparse image that
# survives between runs (RUN_DISK= to use another image, or none).
RUN_DISK ?= $(BUILD)/run/scratch.img
RUN_DISK_SIZE ?= 1G

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all guest
	@set --; \
	if [ -n "$(RUN_DISK)" ]; then \
		mkdir -p "$(dir $(RUN_DISK))"; \
		[ -e "$(RUN_DISK)" ] || truncate -s $(RUN_DISK_SIZE) "$(RUN_DISK)"; \
		set -- -- --disk "$(RUN_DISK)"; \
	fi; \
	if [ -n "$$CMD" ]; then \
		exec scripts/boot-guest.sh --cmd "$$CMD" "$$@"; \
	else \
		exec scripts/boot-guest.sh "$$@"; \
	fi

# Benchmarks run by a script, scripts/bench-NAME.py, after a build of
# everything and the guest; BENCH_<NAME>_ARGS= passes options
# (scripts/bench-NAME.py --help).
#   bench-blk      paravirt vs emulated block I/O in one guest boot: IDE,
#                  AHCI, virtio-blk, pvkit_blk (interrupts and polled) and
#                  null_blk -> build/bench/blk.json and blk.md
#   bench-balloon  pvkit_balloon against QEMU's virtio-balloon (plain, and
#                  with free page reporting), two boots of a 2 GiB guest:
#                  inflate/deflate 768 MiB, host CPU, the RAM file's
#                  release, free page reporting delay
#                  -> build/bench/balloon.json and balloon.md
#   bench-net      paravirt vs emulated networking in one guest boot:
#                  e1000, virtio-net (vhost off, and on where
#                  /dev/vhost-net exists), pvkit_net (interrupts, polled,
#                  AF_XDP), each on its own TAP or veth inside a network
#                  namespace the script makes and removes
#                  -> build/bench/net.json and net.md
#   bench-clock    the pvkit clock in one boot: clock_gettime cost per
#                  clocksource, PTP latency and error bound, guest - host
#                  offset free-running vs chrony on the pvkit PHC, time
#                  error after a pause with and without pvkit_clock
#                  -> build/bench/clock.json and clock.md
BENCH_PY := bench-blk bench-balloon bench-net bench-clock
bench_args_bench-blk = $(BENCH_BLK_ARGS)
bench_args_bench-balloon = $(BENCH_BALLOON_ARGS)
bench_args_bench-net = $(BENCH_NET_ARGS)
bench_args_bench-clock = $(BENCH_CLOCK_ARGS)
.PHONY: $(BENCH_PY)
$(BENCH_PY): bench-%:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all guest
	@python3 scripts/bench-$*.py $(bench_args_$@)
BENCH_TARGETS += $(BENCH_PY)


check-host: host-tests
	@mkdir -p $(BUILD)/check
	@scripts/check-host.sh $(BUILD)/check/host.counts

# Coverage-guided fuzzing (libFuzzer, clang): FUZZ_S seconds per target
# (default 30), summary in build/fuzz/summary.{json,md}.  'make check'
# runs the smoke: 3 s each, every seed replayed.
fuzz:
	@scripts/fuzz.sh

# The long runs (scripts/soak.sh: back-end kills under fio verify, 1000
# module reloads, 4 GiB guests); not part of 'make check'.  SOAK_PARTS
# picks some of kill, cycles, bigmem.
soak:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all guest
	@scripts/soak.sh $(SOAK_PARTS)

fuzz-smoke:
	@mkdir -p $(BUILD)/check
	@FUZZ_S=3 FUZZ_COUNTS=$(BUILD)/check/fuzz.counts scripts/fuzz.sh

check-vm: guest
	@mkdir -p $(BUILD)/check
	@selftests/vm/run.sh $(BUILD)/check/vm.counts

# check = deps + all + check-host + check-vm; both test suites always run,
# and the last line is the combined summary.
check:
	@mkdir -p $(BUILD)/check
	@rm -f $(BUILD)/check/host.counts $(BUILD)/check/vm.counts \
		$(BUILD)/check/fuzz.counts
	@if ! $(MAKE) --no-print-directory deps || \
	    ! $(MAKE) --no-print-directory all host-tests guest; then \
		echo "check: build failed"; \
		echo "0 passed, 1 failed"; \
		exit 1; \
	fi
	@scripts/check-host.sh $(BUILD)/check/host.counts || true; \
	FUZZ_S=3 FUZZ_COUNTS=$(BUILD)/check/fuzz.counts scripts/fuzz.sh || true; \
	selftests/vm/run.sh $(BUILD)/check/vm.counts || true; \
	read -r hp hf hs < $(BUILD)/check/host.counts || { hp=0; hf=1; hs=0; }; \
	read -r fp ff fs < $(BUILD)/check/fuzz.counts || { fp=0; ff=1; fs=0; }; \
	hp=$$((hp + fp)); hf=$$((hf + ff)); hs=$$((hs + fs)); \
	read -r vp vf vs < $(BUILD)/check/vm.counts || { vp=0; vf=1; vs=0; }; \
	echo "check: host $$hp passed, $$hf failed, $$hs skipped;" \
		"vm $$vp passed, $$vf failed, $$vs skipped"; \
	echo "$$((hp + vp)) passed, $$((hf + vf)) failed"; \
	[ $$((hf + vf)) -eq 0 ]

bench: $(BENCH_TARGETS)

CHECKPATCH_SRCS = $(shell find guest-kmod -name '*.[ch]' 2>/dev/null) \
		  $(wildcard hypercall-abi/include/pvkit/*.h)

checkpatch: $(CHECKPATCH_FILES)
	@rc=0; \
	for f in $(CHECKPATCH_SRCS); do \
		out=$$(perl $(CHECKPATCH_DIR)/checkpatch.pl --no-tree --terse \
			-f "$$f" 2>&1); \
		if echo "$$out" | grep -qE '(ERROR|WARNING):'; then \
			echo "$$out" | grep -E '(ERROR|WARNING):'; rc=1; \
		fi; \
	done; \
	if [ $$rc -eq 0 ]; then echo "checkpatch: clean"; fi; \
	exit $$rc

# 'clean' keeps the downloaded guest kernel (build/kernel); 'distclean'
# removes it too.
clean:
	@if [ -d $(BUILD) ]; then \
		find $(BUILD) -mindepth 1 -maxdepth 1 ! -name kernel \
			-exec rm -rf {} +; fi

distclean:
	rm -rf $(BUILD)
