# inlet — the two commands: `make demo` and `make test`. Both install what is
# missing (scripts/bootstrap), build, and are safe to run again.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
CMAKE_ARGS ?=
DEMO_SECONDS ?= 60
# ccache: share compiled objects between clones of the repository.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all bootstrap configure build test test-asan demo bench format fuzz clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja: | bootstrap
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

configure: $(BUILD)/build.ninja

build: bootstrap configure
	cmake --build $(BUILD) -j $(JOBS)

# The clang AddressSanitizer + UBSan build of the libraries, their unit tests
# and the libFuzzer targets (each fuzzed FUZZ_SECONDS in `make test`).
FUZZ_SECONDS ?= 20
$(ASAN_BUILD)/build.ninja: | bootstrap
	CC=clang CXX=clang++ cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DINLET_SANITIZE=ON -DINLET_UNIT_ONLY=ON -DINLET_FUZZ=ON

test-asan: bootstrap $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) -L 'unit|fuzz' -j $(JOBS) --output-on-failure

# Longer fuzzing: FUZZ_SECONDS per target.
fuzz: bootstrap $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	for f in $(ASAN_BUILD)/tests/fuzz/fuzz_*; do \
	  mkdir -p $(ASAN_BUILD)/fuzz/$$(basename $$f)/corpus; \
	  $$f -max_total_time=$${FUZZ_SECONDS:-600} -rss_limit_mb=2048 $(ASAN_BUILD)/fuzz/$$(basename $$f)/corpus \
	    tests/fuzz/corpus/$$(basename $$f | sed 's/^fuzz_//') || exit 1; \
	done

test: build test-asan
	ctest --test-dir $(BUILD) -LE bench -j $(JOBS) --output-on-failure

demo: build
	DEMO_SECONDS=$(DEMO_SECONDS) ./$(BUILD)/inlet demo --fresh examples/inlet.yaml

bench: build
	scripts/run-benchmarks $(BUILD)

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
