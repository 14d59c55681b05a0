# A thin wrapper over meson + ninja. `make` builds ./build/berth.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON ?= meson

.PHONY: all deps check demo bench fuzz clean unit cli asan man

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	$(MESON) setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

# Installs (apt-get, only what is missing) every package the build and tests need.
deps:
	@scripts/deps.sh

# Everything: unit tests, fuzz corpora replay, CLI tests (bats), then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer. Ends with "N passed, N failed".
check: deps
	@scripts/check.sh

# One part of check at a time, while developing.
unit: all
	meson test -C $(BUILD) --suite unit --suite fuzz --print-errorlogs

cli: all
	BERTH=$(CURDIR)/$(BUILD)/berth bats tests/cli

asan: deps
	@CHECK_BUILDS=build-asan scripts/check.sh

demo: deps all
	@BERTH=$(CURDIR)/$(BUILD)/berth scripts/demo.sh

bench: deps all
	@bench/run.sh

fuzz: deps
	@scripts/fuzz.sh

# Man pages from docs/cmd/*.md: $(BUILD)/man/man1/berth.1, berth-<command>.1.
man:
	@scripts/gen-man.sh $(BUILD)/man

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) fuzz/build
