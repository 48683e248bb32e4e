# The two commands of the README, and a few for developers.
#   make run    install what is missing, build, start sigil on ./var (initialised on first run)
#   make test   install what is missing, build, run every test
#   make check  the tests again under AddressSanitizer and UndefinedBehaviorSanitizer
#   make bench  in-process benchmarks (Google Benchmark)
#   make format clang-format every C++ file

BUILD ?= build
CHECK_BUILD ?= build-check
DATA ?= var
LISTEN ?= 127.0.0.1:8420
ISSUER ?= http://$(LISTEN)
JOBS ?= $(shell nproc)

.PHONY: all bootstrap build run test check bench format clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: bootstrap $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run "$(BUILD)/src/cli/sigil" "$(DATA)" "$(LISTEN)" "$(ISSUER)"

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(CHECK_BUILD)/build.ninja:
	cmake -S . -B $(CHECK_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSIGIL_SANITIZE=ON -DSIGIL_BENCH=OFF

check: bootstrap $(CHECK_BUILD)/build.ninja
	cmake --build $(CHECK_BUILD) -j $(JOBS)
	cd $(CHECK_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

bench: build
	bench/run-inprocess "$(BUILD)"

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(CHECK_BUILD)
