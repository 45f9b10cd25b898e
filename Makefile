# Front end over meson. `make demo` is the README's first command, `make test` its second.
# Both install what they need (scripts/setup.sh, scripts/fetch-models.sh) and are idempotent.
BUILD ?= build
MESON_FLAGS ?=
FACET_MODEL_PATH ?= $(CURDIR)/models
export FACET_MODEL_PATH

.PHONY: all setup models build demo test test-arm64 test-deb deb bench bench-nn bench-kernels bench-search bench-pipeline bench-watch clean

all: build

setup:
	@./scripts/setup.sh

models: setup
	@./scripts/fetch-models.sh "$(FACET_MODEL_PATH)"

$(BUILD)/build.ninja:
	@meson setup $(BUILD) $(MESON_FLAGS) >/dev/null

build: setup $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)

demo: build models
	@./scripts/demo.sh $(BUILD)

test: build models
	@./scripts/test.sh $(BUILD)

# Every test of the suite on arm64 under qemu-user (`make test` runs CI's share): docs/arm64.md.
test-arm64: setup models
	@./scripts/cross-test.sh aarch64 --all

# Debian packages in build-deb/ (scripts/deb.sh), and their test: installed into a throwaway
# root, then used (scripts/test-deb.sh).
deb: setup models
	@./scripts/deb.sh build-deb

test-deb: deb
	@./scripts/test-deb.sh build-deb

bench: bench-nn bench-kernels bench-pipeline bench-search bench-watch

bench-nn: build models
	@./bench/nn/run.sh $(BUILD)

bench-kernels: build
	@./bench/nn/kernels.sh $(BUILD)

bench-pipeline: build models
	@./bench/pipeline/run.sh $(BUILD) ../shared/data

bench-search: build
	@./bench/search/run.sh $(BUILD)

bench-watch: build models
	@./bench/watch/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-deb build-aarch64
