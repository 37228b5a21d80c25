# Thin wrapper: the build is Meson + Ninja. `make` builds build/buzon,
# `make check` runs every test, `make demo` runs a demo server on loopback,
# `make deb` builds the Debian package.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=

.PHONY: all deps check-deps build asan check demo fuzz bench deb clean

all: build

deps:
	@scripts/install-deps.sh build

check-deps:
	@scripts/install-deps.sh check

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS) >/dev/null

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug $(MESON_OPTS) >/dev/null

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: check-deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

check: check-deps
	@$(MAKE) --no-print-directory build asan
	@tests/run-all.sh

demo: build
	@scripts/demo.sh

# libFuzzer targets in build-fuzz (clang, ASan+UBSan); a failed meson setup stops here
# with its error and leaves no half-configured build-fuzz behind.  fuzz/run.sh replays
# the corpora and fuzzes each target briefly (the `fuzz` suite of make check).
fuzz:
	@scripts/install-deps.sh check
	@if [ ! -f build-fuzz/build.ninja ]; then \
		CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
			-Db_lundef=false -Dtests=disabled $(MESON_OPTS) >build-fuzz.setup.log 2>&1 || \
		{ cat build-fuzz.setup.log; rm -rf build-fuzz; exit 1; }; \
		rm -f build-fuzz.setup.log; \
	fi
	ninja -C build-fuzz

bench:
	@scripts/install-deps.sh bench
	@bench/run.sh

# buzon_VERSION_ARCH.deb in the current directory (debian/, scripts/build-deb.sh)
deb:
	@scripts/install-deps.sh deb
	@scripts/build-deb.sh .

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
