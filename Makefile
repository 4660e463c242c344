# luna2d: every entry point. `make help` lists the targets.

CARGO ?= cargo
LISTEN ?= 127.0.0.1:7050
DATA ?= ./var
MUSL := x86_64-unknown-linux-musl
GNU := x86_64-unknown-linux-gnu

.PHONY: help build run test e2e lint bench static clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## Build the release binary
	$(CARGO) build --release

run: build ## Build and start the daemon on 127.0.0.1:7050 with embedded defaults (data in ./var)
	./target/release/luna2d --listen $(LISTEN) --data $(DATA)

test: ## Run every test (unit and integration against the real binary)
	$(CARGO) test --no-fail-fast

e2e: ## Only the end-to-end boot (iPXE in QEMU provisions two nodes), serial console on screen
	LUNA2D_E2E_CONSOLE=1 $(CARGO) test --test integration e2e:: -- --nocapture

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# The bench compares the working tree with this commit (the last on tiny_http),
# built once into its own cache: source, target dir and binary.
BASELINE_REV ?= 2050f4a
BASELINE_DIR ?= $(abspath $(or $(CARGO_TARGET_DIR),target))/baseline/$(BASELINE_REV)

bench: ## Seed 5,000 nodes, print throughput, latency, memory; compare with BASELINE_REV
	@if [ -x $(BASELINE_DIR)/luna2d ]; then \
		echo "baseline: reusing $(BASELINE_DIR)/luna2d"; \
	else \
		echo "baseline: building $(BASELINE_REV) into $(BASELINE_DIR)" && \
		rm -rf $(BASELINE_DIR)/src && mkdir -p $(BASELINE_DIR)/src && \
		git archive $(BASELINE_REV) | tar -x -C $(BASELINE_DIR)/src && \
		$(CARGO) build --release --locked --manifest-path $(BASELINE_DIR)/src/Cargo.toml \
			--target-dir $(BASELINE_DIR)/target && \
		cp $(BASELINE_DIR)/target/release/luna2d $(BASELINE_DIR)/luna2d; \
	fi
	LUNA2D_BASELINE=$(BASELINE_DIR)/luna2d $(CARGO) bench --bench bench

static: ## Build a fully static binary (musl if available, else glibc +crt-static)
	@if rustup target add $(MUSL) >/dev/null 2>&1 && command -v musl-gcc >/dev/null; then \
		echo "building with musl"; \
		$(CARGO) build --release --target $(MUSL) && cp target/$(MUSL)/release/luna2d target/luna2d-static; \
	else \
		echo "musl unavailable: building glibc with +crt-static"; \
		RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(GNU) && \
		cp target/$(GNU)/release/luna2d target/luna2d-static; \
	fi
	@file target/luna2d-static 2>/dev/null || true
	@if ldd target/luna2d-static 2>&1 | grep -q '=>'; then echo "error: target/luna2d-static links shared libraries"; exit 1; fi
	@echo "target/luna2d-static is static"

clean: ## Remove build output (not ./var)
	$(CARGO) clean
