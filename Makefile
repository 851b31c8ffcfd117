# inlet — the two commands: `make demo` and `make test`. Both install what is
# missing (scripts/bootstrap), build, and are safe to run again.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
CMAKE_ARGS ?=
DEMO_SECONDS ?= 60

.PHONY: all bootstrap configure build test test-asan demo bench format fuzz clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja: | bootstrap
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

configure: $(BUILD)/build.ninja

build: bootstrap configure
	cmake --build $(BUILD) -j $(JOBS)

# The AddressSanitizer + UBSan build of the libraries and their unit tests.
test-asan: bootstrap
	@[ -f $(ASAN_BUILD)/build.ninja ] || cmake -S . -B $(ASAN_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=Debug -DINLET_SANITIZE=ON -DINLET_UNIT_ONLY=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) -L unit -j $(JOBS) --output-on-failure

test: build test-asan
	ctest --test-dir $(BUILD) -LE bench -j $(JOBS) --output-on-failure

demo: build
	DEMO_SECONDS=$(DEMO_SECONDS) ./$(BUILD)/inlet demo examples/inlet.yaml

bench: build
	scripts/run-benchmarks $(BUILD)

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
