# The README's commands. Each target installs what is missing first, so a fresh
# Debian 12 machine needs nothing but `make`.
#
#   make run     build Release, start the example services on 127.0.0.1:9100 and a
#                JetStream nats-server on 127.0.0.1:4222 (monitoring on :8222), and
#                serve examples/order-fulfillment/rivulet.yaml on 127.0.0.1:8080
#   make test    build with ASan+UBSan, run every test through CTest
#   make bench   build Release, run bench/, print JSON
#
# Two build trees live under build/: build/release and build/asan. After any build,
# build/rivulet points at the binary that was built last.

SHELL := /bin/bash
.DEFAULT_GOAL := test

DEBIAN_PACKAGES := cmake g++ make ninja-build ccache pkg-config curl ca-certificates \
	libboost-dev libcpp-httplib-dev nlohmann-json3-dev catch2 libyaml-cpp-dev \
	libcli11-dev libnats-dev libsqlite3-dev libpq-dev libssl-dev libjemalloc-dev libre2-dev \
	postgresql nats-server

JOBS ?= $(shell nproc)
CMAKE_COMMON := -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
CCACHE := $(shell command -v ccache 2>/dev/null)
ifneq ($(CCACHE),)
CMAKE_COMMON += -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
endif

CONFIG ?= examples/order-fulfillment/rivulet.yaml
SERVICES_LISTEN ?= 127.0.0.1:9100
NATS_PORT ?= 4222
NATS_MONITOR_PORT ?= 8222
NATS_DIR ?= examples/order-fulfillment/data/nats
CTEST_ARGS ?=

.PHONY: deps release asan run test bench check-config clean format

deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing" >&2; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

release: deps
	@cmake -S . -B build/release $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release -DRIVULET_SANITIZE=OFF -DRIVULET_BUILD_TESTS=OFF -DRIVULET_BUILD_BENCH=ON >/dev/null
	@cmake --build build/release -j $(JOBS)
	@ln -sfn release/rivulet build/rivulet

asan: deps
	@cmake -S . -B build/asan $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Debug -DRIVULET_SANITIZE=ON -DRIVULET_BUILD_TESTS=ON -DRIVULET_BUILD_BENCH=ON >/dev/null
	@cmake --build build/asan -j $(JOBS)
	@ln -sfn asan/rivulet build/rivulet

run: release
	@build/release/rivulet-example-services --listen $(SERVICES_LISTEN) & services=$$!; \
	  nats=""; if command -v nats-server >/dev/null; then \
	    mkdir -p $(NATS_DIR); \
	    nats-server -js -a 127.0.0.1 -p $(NATS_PORT) -m $(NATS_MONITOR_PORT) -sd $(NATS_DIR) \
	      >$(NATS_DIR)/nats-server.log 2>&1 & nats=$$!; fi; \
	  trap 'kill $$services $$nats 2>/dev/null' EXIT INT TERM; \
	  ./build/rivulet serve -c $(CONFIG)

test: asan
	cd build/asan && ctest --output-on-failure --timeout 600 -j $(JOBS) $(CTEST_ARGS)

bench: release
	@./build/release/bench/rivulet_bench

check-config: release
	./build/rivulet check -c $(CONFIG)

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
