# tlsshim: every entry point. `make` builds; `make check` installs what is
# missing, builds and runs every test; `make demo` shows the shim at work.
# SANITIZE=1 builds everything with ASan+UBSan into build/san/.

CC       ?= cc
SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD    ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
SANFLAGS :=
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(SANFLAGS) -Iengine/include
LDFLAGS  += $(SANFLAGS)
CRYPTO   := -lcrypto

# The engine's layers, lowest first. A folder's files may include the headers
# of their own folder and of the layers listed for it, nothing else: the build
# refuses an include that points up (the header is simply not on the path).
ENGINE_LAYERS   := base crypto x509 core handshake socket
LAYER_base      :=
LAYER_crypto    := base
LAYER_x509      := base crypto
LAYER_core      := base crypto x509
LAYER_handshake := base crypto x509 core
LAYER_socket    := base
$(foreach l,$(ENGINE_LAYERS),$(eval $$(BUILD)/obj/engine/src/$(l)/%.o: INC := $(LAYER_$(l):%=-Iengine/src/%)))
ALL_ENGINE_INC  := $(ENGINE_LAYERS:%=-Iengine/src/%)
$(BUILD)/obj/tests/%.o: INC := $(ALL_ENGINE_INC) -Iconfig
$(BUILD)/obj/bench/%.o: INC := $(ALL_ENGINE_INC)
$(BUILD)/obj/shim/%.o: INC := -Iconfig

ENGINE_SRC  := $(sort $(wildcard engine/src/*/*.c))
CONFIG_SRC  := $(sort $(wildcard config/*.c))
SHIM_SRC    := $(sort $(filter-out shim/launcher.c shim/check_warnings.c,$(wildcard shim/*.c)))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC   := $(sort $(wildcard bench/*.c))
TESTLIB_SRC := $(sort $(wildcard tests/unit/lib/*.c))

ENGINE_OBJ  := $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o)
CONFIG_OBJ  := $(CONFIG_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ    := $(SHIM_SRC:%.c=$(BUILD)/obj/%.o)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
EXAMPLES    := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
UNIT_BINS   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BINS  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

ENGINE_A  := $(BUILD)/libtlsengine.a
ENGINE_SO := $(BUILD)/libtlsengine.so
CONFIG_A  := $(BUILD)/libtlsconfig.a
SHIM_SO   := $(BUILD)/libtlsshim.so
LAUNCHER  := $(BUILD)/tlsshim

TARGETS := $(ENGINE_A) $(ENGINE_SO) $(EXAMPLES)
ifneq ($(CONFIG_SRC),)
TARGETS += $(CONFIG_A)
endif
ifneq ($(SHIM_SRC),)
TARGETS += $(SHIM_SO) $(LAUNCHER)
endif

.PHONY: all check unit interop e2e conformance demo fuzz fuzzers deps bench clean install uninstall
all: $(TARGETS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -MMD -MP -c $< -o $@

$(ENGINE_A): $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(ENGINE_SO): $(ENGINE_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(CRYPTO)

$(CONFIG_A): $(CONFIG_OBJ)
	@rm -f $@
	ar rcs $@ $^

# the shim exports only the libc names it interposes (shim/exports.map)
$(SHIM_SO): $(SHIM_OBJ) $(CONFIG_A) $(ENGINE_A)
	$(CC) -shared -o $@ $(SHIM_OBJ) $(CONFIG_A) $(ENGINE_A) $(LDFLAGS) \
	    -Wl,--version-script=shim/exports.map -Wl,--exclude-libs,ALL $(CRYPTO) -linih -lpthread -ldl

$(LAUNCHER): $(BUILD)/obj/shim/launcher.o $(BUILD)/obj/shim/check_warnings.o $(BUILD)/obj/shim/ruleopts.o \
             $(CONFIG_A) $(ENGINE_A)
	$(CC) -o $@ $^ $(LDFLAGS) -linih $(CRYPTO)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(ENGINE_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(CRYPTO) -lpthread

# bench programs (bench/*.c) set the engine against libssl: they, and only
# they, link libssl; the engine never does
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(ENGINE_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) -lssl $(CRYPTO) -lpthread
ifneq ($(BENCH_SRC),)
.SECONDARY: $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
endif

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJ) $(ENGINE_A) $(if $(CONFIG_SRC),$(CONFIG_A))
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) -lcriterion $(CRYPTO) $(if $(CONFIG_SRC),-linih) -lpthread

deps:
	@scripts/deps.sh

# make install PREFIX=/usr/local DESTDIR=: the launcher, the preload library
# under lib/tlsshim/ (where the installed launcher looks: ../lib/tlsshim from
# its own folder), the engine's libraries, public headers and pkg-config file,
# and the man pages. `make uninstall` with the same PREFIX and DESTDIR removes
# exactly those files (and lib/tlsshim/ once empty). libtlsengine.so has no
# soname: it is installed as it is built.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     := $(PREFIX)/bin
LIBDIR     := $(PREFIX)/lib
INCLUDEDIR := $(PREFIX)/include
MANDIR     := $(PREFIX)/share/man
VERSION    := $(shell sed -n 's/^\#define TLSSHIM_VERSION "\(.*\)"/\1/p' shim/launcher.c)
PUBLIC_HEADERS := $(wildcard engine/include/*.h)
# every installed file, as DESTDIR-less paths: install and uninstall both read it
INSTALLED := $(BINDIR)/tlsshim $(LIBDIR)/tlsshim/libtlsshim.so \
             $(LIBDIR)/libtlsengine.so $(LIBDIR)/libtlsengine.a \
             $(PUBLIC_HEADERS:engine/include/%=$(INCLUDEDIR)/%) $(LIBDIR)/pkgconfig/tlsengine.pc \
             $(MANDIR)/man1/tlsshim.1 $(MANDIR)/man5/tlsshim.ini.5

$(BUILD)/tlsengine.pc: engine/tlsengine.pc.in FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< >$@

install: all $(BUILD)/tlsengine.pc
	install -D -m 0755 $(LAUNCHER) $(DESTDIR)$(BINDIR)/tlsshim
	install -D -m 0755 $(SHIM_SO) $(DESTDIR)$(LIBDIR)/tlsshim/libtlsshim.so
	install -D -m 0755 $(ENGINE_SO) $(DESTDIR)$(LIBDIR)/libtlsengine.so
	install -D -m 0644 $(ENGINE_A) $(DESTDIR)$(LIBDIR)/libtlsengine.a
	install -D -m 0644 -t $(DESTDIR)$(INCLUDEDIR) $(PUBLIC_HEADERS)
	install -D -m 0644 $(BUILD)/tlsengine.pc $(DESTDIR)$(LIBDIR)/pkgconfig/tlsengine.pc
	install -D -m 0644 man/tlsshim.1 $(DESTDIR)$(MANDIR)/man1/tlsshim.1
	install -D -m 0644 man/tlsshim.ini.5 $(DESTDIR)$(MANDIR)/man5/tlsshim.ini.5

uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)
	if [ -d $(DESTDIR)$(LIBDIR)/tlsshim ]; then rmdir --ignore-fail-on-non-empty $(DESTDIR)$(LIBDIR)/tlsshim; fi

FORCE:

# make bench: deps, build, then every bench case side by side with its anchor
# (libssl, nginx's and redis's own TLS, stunnel, openssl speed) and one table.
# `make bench QUICK=1` runs each case small (make check runs it that way).
bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@BUILD=$(BUILD) QUICK=$(QUICK) bench/run.sh

# make check: deps, build, unit tests, interop against real peers, end to end.
# (the plain run also fuzzes each harness for a short while)
check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(if $(SANITIZE),,fuzzers $(BENCH_BINS))
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) FUZZ_SECONDS=$${FUZZ_SECONDS:-15} tests/run.sh

unit: all $(UNIT_BINS)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh unit

interop: all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh interop

e2e: all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh e2e

# tlsfuzzer (../shared/tlsfuzzer) against the shim and against echo_server
conformance: deps all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh conformance

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/demo.sh

# libFuzzer harnesses (clang): the engine as server and as client, the record
# layer, the policy parser. `make fuzz FUZZ_SECONDS=600` fuzzes longer.
FUZZ_SECONDS ?= 60
FUZZ_DIR  := build/fuzz
FUZZ_CC   ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iengine/include \
              $(ALL_ENGINE_INC) -Iconfig
FUZZERS := $(FUZZ_DIR)/fuzz_server $(FUZZ_DIR)/fuzz_client $(FUZZ_DIR)/fuzz_record
ifneq ($(CONFIG_SRC),)
FUZZERS += $(FUZZ_DIR)/fuzz_policy
endif

$(FUZZ_DIR)/fuzz_server: tests/fuzz/fuzz_engine.c $(ENGINE_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -DFUZZ_SERVER $^ -o $@ $(CRYPTO) -lpthread
$(FUZZ_DIR)/fuzz_client: tests/fuzz/fuzz_engine.c $(ENGINE_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ $(CRYPTO) -lpthread
$(FUZZ_DIR)/fuzz_record: tests/fuzz/fuzz_record.c $(ENGINE_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ $(CRYPTO) -lpthread
$(FUZZ_DIR)/fuzz_policy: tests/fuzz/fuzz_policy.c $(CONFIG_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ -linih $(CRYPTO)

fuzzers: $(FUZZERS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzzers
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=build tests/run.sh fuzz

clean:
	rm -rf build

-include $(ENGINE_OBJ:.o=.d) $(CONFIG_OBJ:.o=.d) $(SHIM_OBJ:.o=.d) $(TESTLIB_OBJ:.o=.d) \
    $(BUILD)/obj/shim/launcher.d $(BUILD)/obj/shim/check_warnings.d $(EXAMPLE_SRC:%.c=$(BUILD)/obj/%.d) $(UNIT_SRC:%.c=$(BUILD)/obj/%.d) \
    $(BENCH_SRC:%.c=$(BUILD)/obj/%.d)
