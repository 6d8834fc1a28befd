# Makefile - the two entry points README gives (make demo, make check) and a few helpers.
# The real build is meson; this file installs dependencies and wires the steps together.

BUILD ?= build
DEPS = meson ninja-build gcc clang pkg-config libmount-dev libsqlite3-dev sqlite3 \
       nettle-dev libjson-c-dev zlib1g-dev util-linux iproute2 jq shellcheck python3 \
       sshfs openssh-server openssh-client fuse3 nftables glusterfs-server glusterfs-client strace
# The Python binding (cffi, API mode) and the Nova and os-brick code its tests drive.
DEPS += python3-cffi python3-dev python3-nova python3-os-brick
# Installing it like a system tool (issue 13): man pages (scdoc, rendered by man-db), the
# units verified by systemd-analyze, bash completion; the Debian package built, checked by
# lintian and installed into a debootstrapped root (tests/integration/test-debian-package.sh).
DEPS += scdoc man-db systemd bash-completion debhelper dh-python dpkg-dev fakeroot lintian debootstrap \
	python3-yaml
# make check-vm: qemu for the guest, and what builds its image from Debian packages
VM_DEPS = qemu-system-x86 debootstrap cpio zstd

.PHONY: all deps build demo check bench print-bin print-deps print-vm-deps clean deps-vm check-vm

all: build

# Install only when something is missing, so repeated runs stay fast; CI installs explicitly.
deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

$(BUILD)/build.ninja:
	@command -v meson >/dev/null || { echo "make: meson is not installed: run 'make deps' (as root) first" >&2; exit 1; }
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	meson compile -C $(BUILD)

print-bin:
	@echo $(abspath $(BUILD))/volmount

# The package lists, for .ci/run: one list, kept here.
print-deps:
	@echo $(DEPS)

print-vm-deps:
	@echo $(VM_DEPS)

demo: deps build
	scripts/demo.sh $(abspath $(BUILD))/volmount

check: deps
	scripts/check.sh

deps-vm:
	@missing=$$(for p in $(VM_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# Real NFS and CIFS in qemu guests running Debian 12's own kernel (tests/vm/README.md): builds
# the guest image under $(BUILD)/vm (cached), runs every VM test, prints "N passed, N failed".
check-vm: deps deps-vm build
	tests/vm/check-vm.sh $(abspath $(BUILD))

# Benchmarks (bench/README.md): builds volmount-bench and runs every case in a private
# namespace; prints the table and writes bench/results/latest.txt. Root; about a minute.
bench: deps build
	meson compile -C $(BUILD) volmount-bench
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-san build-tsan
