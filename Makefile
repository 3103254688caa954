# SPDX-License-Identifier: ISC
# cpconnect: one build, no configure step.
#   make            build everything into $(B)/
#   make run        install missing packages, build, run the daemon (foreground)
#   make check      install missing packages, build (the benchmarks too,
#                   so that they keep compiling), run every test
#   make bench      benchmarks (ratios against in-process work)
#   make install    PREFIX=/usr/local DESTDIR=
#   make B=build-asan SAN=1 check    the suite under ASan/UBSan

B       ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
PCDIR   ?= $(LIBDIR)/pkgconfig
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system

VERSION = 0.1.0
SOMAJOR = 0

CC      ?= cc
OPT     ?= -O2 -g
WARN    = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
          -Wmissing-prototypes -Wno-unused-parameter
CFLAGS  ?=
CPPFLAGS += -D_GNU_SOURCE
# Each layer sees only what it may use: proto/ nothing else, the daemon
# proto/, the library proto/ and its own, the CLI (and the examples) only
# the public header.  Tests and benchmarks may see everything.
INC_ALL = -Iproto -Ilib -Ilib/include -Idaemon -Itests
$(B)/obj/proto/%.o: INC = -Iproto
$(B)/obj/daemon/%.o: INC = -Iproto -Idaemon
$(B)/obj/lib/%.o: INC = -Iproto -Ilib -Ilib/include
$(B)/obj/cli/%.o: INC = -Ilib/include
$(B)/obj/tests/%.o: INC = $(INC_ALL) -DCP_TEST_HOOKS
$(B)/obj/bench/%.o: INC = $(INC_ALL)
$(B)/obj/hooks/%.o: INC = $(INC_ALL)
ALLCFLAGS = -std=gnu11 $(OPT) $(WARN) -fPIC -fstack-protector-strong \
          -D_FORTIFY_SOURCE=2 $(CFLAGS)
LDFLAGS ?=
ifeq ($(SAN),1)
ALLCFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -U_FORTIFY_SOURCE \
             -DCP_DEBUG
LDFLAGS   += -fsanitize=address,undefined
endif

SSL_LIBS  = -lssl -lcrypto
DAEMON_LIBS = $(SSL_LIBS) -lcares -lsystemd -lseccomp
LIB_LIBS  = $(SSL_LIBS) -lpthread

PROTO_SRC  = $(wildcard proto/*.c)
DAEMON_SRC = $(filter-out daemon/cpconnectd.c,$(wildcard daemon/*.c))
LIB_SRC    = $(wildcard lib/*.c)
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
TESTLIB_SRC = $(wildcard tests/*.c)
TESTC_SRC  = $(wildcard tests/integration/*.c)
BENCH_SRC  = $(wildcard bench/*.c)
VM_SRC     = $(wildcard tests/vm/*.c)
EXAMPLE_SRC = $(wildcard examples/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

PROTO_A  = $(B)/libcpproto.a
DAEMON_A = $(B)/libcpdaemon.a
LIB_A    = $(B)/libcpconnect.a
LIBINT_A = $(B)/libcplib.a
DAEMONT_A = $(B)/libcpdaemon-hooks.a
HOOKD    = $(B)/tests/cpconnectd-hooks
LIB_SO   = $(B)/libcpconnect.so.$(SOMAJOR)
DAEMON   = $(B)/cpconnectd
CLI      = $(B)/cpconnect
CTL      = $(B)/cpconnectctl
UNITS    = $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TESTCS   = $(patsubst tests/integration/%.c,$(B)/tests/%,$(TESTC_SRC))
BENCHES  = $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
EXAMPLES = $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))
VMBINS   = $(patsubst tests/vm/%.c,$(B)/vm/bin/%,$(VM_SRC))

all: $(DAEMON) $(LIB_SO) $(B)/libcpconnect.so $(LIB_A) $(CLI) $(CTL) $(B)/cpconnect.pc
tests: all $(HOOKD) $(UNITS) $(TESTCS) $(EXAMPLES) $(VMBINS)
benches: all $(BENCHES)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC) $(ALLCFLAGS) -MMD -MP -c -o $@ $<

# Test hooks (CP_TEST_HOOKS) exist only in these second builds of the
# files that have them, linked into the tests and a test daemon, never into
# what is installed.
HOOK_SRC = daemon/engine.c daemon/dial.c daemon/cacache.c daemon/ev.c \
	   daemon/policy.c daemon/proxy.c lib/record.c lib/ktls.c \
	   lib/castore.c lib/client.c
hobj = $(patsubst %.c,$(B)/obj/hooks/%.o,$(1))
$(B)/obj/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC) -DCP_TEST_HOOKS $(ALLCFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

$(PROTO_A): $(call obj,$(PROTO_SRC))
	@rm -f $@
	ar rcs $@ $^
$(DAEMON_A): $(call obj,$(DAEMON_SRC))
	@rm -f $@
	ar rcs $@ $^
# The installed archive is one relocatable object in which only the
# public names stay global, as the version script does for the .so: a
# program linking it statically meets no imsg_* or tls_rec_* of ours.
PUBLIC_SYMS = -w --keep-global-symbol='cp_client_*' \
	      --keep-global-symbol=ssl_verification_error_str \
	      --keep-global-symbol=ssl_err_inf
$(LIB_A): $(call obj,$(LIB_SRC) $(PROTO_SRC))
	@rm -f $@ $(B)/libcpconnect.o
	$(LD) -r -o $(B)/libcpconnect.o $^
	objcopy $(PUBLIC_SYMS) $(B)/libcpconnect.o
	ar rcs $@ $(B)/libcpconnect.o
# Every internal module of the library, hooks included, for tests and
# benchmarks; the same for the daemon.
$(LIBINT_A): $(call obj,$(filter-out $(HOOK_SRC),$(LIB_SRC))) \
	     $(call hobj,$(filter $(HOOK_SRC),$(LIB_SRC)))
	@rm -f $@
	ar rcs $@ $^
$(DAEMONT_A): $(call obj,$(filter-out $(HOOK_SRC),$(DAEMON_SRC))) \
	      $(call hobj,$(filter $(HOOK_SRC),$(DAEMON_SRC)))
	@rm -f $@
	ar rcs $@ $^
$(HOOKD): $(call obj,daemon/cpconnectd.c) $(DAEMONT_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(DAEMON): $(call obj,daemon/cpconnectd.c) $(DAEMON_A) $(PROTO_A)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(LIB_SO): $(call obj,$(LIB_SRC) $(PROTO_SRC)) lib/libcpconnect.map
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -shared -Wl,-soname,libcpconnect.so.$(SOMAJOR) \
	  -Wl,--version-script=lib/libcpconnect.map -Wl,-z,relro,-z,now \
	  -o $@ $(call obj,$(LIB_SRC) $(PROTO_SRC)) $(LIB_LIBS)
$(B)/libcpconnect.so: $(LIB_SO)
	ln -sf libcpconnect.so.$(SOMAJOR) $@

$(CLI): $(call obj,cli/cpconnect.c) $(LIB_A)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

# The administrator's tool talks to the parent's control socket only.
$(CTL): $(call obj,cli/cpconnectctl.c)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^

# Tests and benchmarks may use any internal module of the daemon or the
# library; the archives pull in only what a program refers to.
TESTLIB_A = $(B)/libcptest.a
TEST_LINK = -Wl,--start-group $(TESTLIB_A) $(DAEMONT_A) $(LIBINT_A) $(PROTO_A) -Wl,--end-group \
            $(DAEMON_LIBS) $(LIB_LIBS) -lcunit
$(TESTLIB_A): $(call obj,$(TESTLIB_SRC))
	@rm -f $@
	ar rcs $@ $^
$(B)/tests/%: $(B)/obj/tests/unit/%.o $(TESTLIB_A) $(DAEMONT_A) $(LIBINT_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LINK)
$(B)/tests/%: $(B)/obj/tests/integration/%.o $(TESTLIB_A) $(DAEMONT_A) $(LIBINT_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LINK)
$(B)/bench/%: $(B)/obj/bench/%.o $(TESTLIB_A) $(DAEMONT_A) $(LIBINT_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LINK)
# bench_fresh starts this small program for every connect: built as a
# user's program would be, the installed static library and OpenSSL only.
FRESH_CHILD = $(B)/bench/fresh
benches: $(FRESH_CHILD)
$(FRESH_CHILD): bench/child/fresh.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(OPT) $(WARN) $(CFLAGS) -Ilib/include $(LDFLAGS) -o $@ $< \
	  $(LIB_A) $(LIB_LIBS)
# The VM suite's programs run inside a small initramfs: only the library
# (its internal modules, hooks included) and what it needs, so few shared
# objects go into the image.
$(B)/vm/bin/%: $(B)/obj/tests/vm/%.o $(LIBINT_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(LIBINT_A) $(PROTO_A) $(LIB_LIBS)
# Examples are built exactly as a user would: public header and library only.
$(B)/examples/%: examples/%.c $(LIB_SO) $(B)/libcpconnect.so
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(OPT) $(WARN) $(CFLAGS) -Ilib/include $(LDFLAGS) -o $@ $< \
	  -L$(B) -Wl,-rpath,$(abspath $(B)) -lcpconnect $(SSL_LIBS)

# Written at install time too: PREFIX may differ from the build's.
PCSUBST = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|'
$(B)/cpconnect.pc: lib/cpconnect.pc.in Makefile
	$(PCSUBST) $< > $@

deps:
	@sh scripts/deps.sh

run: deps all
	@sh scripts/run.sh $(B)

check: deps tests benches
	@B=$(B) SAN=$(SAN) sh tests/run.sh

bench: deps benches
	@B=$(B) sh bench/run.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
	  $(DESTDIR)$(INCDIR)/cprops $(DESTDIR)$(PCDIR)
	install -m 755 $(DAEMON) $(DESTDIR)$(SBINDIR)/cpconnectd
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/cpconnect
	install -m 755 $(CTL) $(DESTDIR)$(SBINDIR)/cpconnectctl
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 contrib/cpconnectctl.bash \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/cpconnectctl
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libcpconnect.so.$(VERSION)
	ln -sf libcpconnect.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcpconnect.so.$(SOMAJOR)
	ln -sf libcpconnect.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libcpconnect.so
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libcpconnect.a
	install -m 644 lib/include/cprops/client.h $(DESTDIR)$(INCDIR)/cprops/client.h
	$(PCSUBST) lib/cpconnect.pc.in > $(DESTDIR)$(PCDIR)/cpconnect.pc
	chmod 644 $(DESTDIR)$(PCDIR)/cpconnect.pc
	@sh scripts/install-extra.sh "$(DESTDIR)" "$(MANDIR)" "$(UNITDIR)" "$(SYSCONFDIR)" "$(PREFIX)"

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/cpconnectd $(DESTDIR)$(BINDIR)/cpconnect \
	  $(DESTDIR)$(SBINDIR)/cpconnectctl \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/cpconnectctl \
	  $(DESTDIR)$(LIBDIR)/libcpconnect.so* $(DESTDIR)$(LIBDIR)/libcpconnect.a \
	  $(DESTDIR)$(INCDIR)/cprops/client.h $(DESTDIR)$(PCDIR)/cpconnect.pc
	-rmdir $(DESTDIR)$(INCDIR)/cprops 2>/dev/null
	@sh scripts/install-extra.sh -u "$(DESTDIR)" "$(MANDIR)" "$(UNITDIR)" "$(SYSCONFDIR)" "$(PREFIX)"

# Debian packages (debian/, see debian/README.source): make deb builds them
# into $(B)/deb; make deb-check builds, installs (root), exercises and
# purges them, and ends with "N passed, N failed".
deb:
	@sh scripts/deps.sh deb
	@sh scripts/mkdeb.sh $(B)/deb

deb-check:
	@sh scripts/deps.sh deb
	@B=$(B) sh tests/deb/check.sh

.PHONY: deb deb-check

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B)

.PHONY: all tests benches deps run check bench install uninstall format clean
.SECONDARY:

# ---- cpconnect-run(1): unmodified programs through the daemon ----
# libcpconnect-preload.so holds the library's session code, not the
# library: no OpenSSL in every program it is loaded into.  Its version
# script exports the interposed functions only.
# It is loaded into programs built without sanitizers, where a sanitizer
# runtime cannot come first: never instrumented, even under SAN=1, so its
# objects have a directory of their own.
PRELOAD_SO  = $(B)/libcpconnect-preload.so
RUN         = $(B)/cpconnect-run
PRELOAD_SRC = $(wildcard preload/*.c)
PRELOAD_CFLAGS = $(filter-out -fsanitize=% -fno-omit-frame-pointer,$(ALLCFLAGS))
PRELOAD_LDFLAGS = $(filter-out -fsanitize=%,$(LDFLAGS))
pobj = $(patsubst %.c,$(B)/obj-preload/%.o,$(1))
PRELOAD_OBJ = $(call pobj,$(PRELOAD_SRC) lib/session.c lib/stop.c \
                proto/imsg.c proto/msg.c proto/attr.c proto/budget.c \
                proto/hostname.c)
RUN_OBJ     = $(call obj,$(wildcard preload/run/*.c))

all: $(PRELOAD_SO) $(RUN)

# The layers' include rules, for the preload's own copies of their objects;
# the preload sees the protocol and the session, cpconnect-run the protocol
# and the public header.
$(B)/obj-preload/proto/%.o: INC = -Iproto
$(B)/obj-preload/lib/%.o: INC = -Iproto -Ilib -Ilib/include
$(B)/obj-preload/preload/%.o: INC = -Iproto -Ilib
$(B)/obj/preload/run/%.o: INC = -Iproto -Ilib/include
$(B)/obj-preload/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC) $(PRELOAD_CFLAGS) -MMD -MP -c -o $@ $<
-include $(shell find $(B)/obj-preload -name '*.d' 2>/dev/null)

$(PRELOAD_SO): $(PRELOAD_OBJ) preload/preload.map
	$(CC) $(PRELOAD_CFLAGS) $(PRELOAD_LDFLAGS) -shared \
	  -Wl,--version-script=preload/preload.map -Wl,-z,relro,-z,now -Wl,-z,defs \
	  -o $@ $(PRELOAD_OBJ) -ldl -lpthread
# It finds the preload next to itself, in ../lib, or here.
# A private directory: the preload is a plugin of cpconnect-run, not a
# library a program links (it has no soname).
PRELOADDIR ?= $(LIBDIR)/cpconnect
$(B)/obj/preload/run/cpconnect-run.o: CPPFLAGS += -DCP_LIBDIR='"$(PRELOADDIR)"'
$(RUN): $(RUN_OBJ)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^

# The placeholder table's unit test links the table itself.
$(B)/tests/test_phtable: $(call obj,preload/phtable.c)
$(B)/tests/test_phtable: TEST_LINK += $(call obj,preload/phtable.c)

install: install-preload
install-preload: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PRELOADDIR)
	install -m 755 $(RUN) $(DESTDIR)$(BINDIR)/cpconnect-run
	install -m 755 $(PRELOAD_SO) $(DESTDIR)$(PRELOADDIR)/libcpconnect-preload.so
uninstall: uninstall-preload
uninstall-preload:
	rm -f $(DESTDIR)$(BINDIR)/cpconnect-run \
	  $(DESTDIR)$(PRELOADDIR)/libcpconnect-preload.so
	-rmdir $(DESTDIR)$(PRELOADDIR) 2>/dev/null

.PHONY: install-preload uninstall-preload

# ---- Fuzzing (tests/fuzz/README) ----
# make fuzz          every target built with clang, libFuzzer, ASan and UBSan
#                    into $(B)/fuzz/, then run one after another for
#                    FUZZ_TIME seconds each (one process, one job: the
#                    machine is shared); new inputs go to $(B)/fuzz/corpus/,
#                    crashes to $(B)/fuzz/artifacts/, the output to
#                    $(B)/fuzz/*.log
# make fuzz-corpus   regenerate the committed seeds (tests/fuzz/gencorpus.c)
# The corpus runners $(B)/tests/test_fuzz_* are ordinary test programs built
# with $(CC) (SAN=1 applies): `make check` replays the committed corpus.
FUZZ_TARGETS = fuzz_proto fuzz_conf fuzz_record fuzz_handoff fuzz_proxy \
	       fuzz_cert
FUZZ_TIME   ?= 60
FUZZ_CC     ?= clang
FUZZ_FLAGS  ?=
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer
FUZZ_CFLAGS  = -std=gnu11 -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	       -fsanitize-coverage-ignorelist=tests/fuzz/nocov.txt
FUZZ_OBJDIR  = $(B)/fuzz/obj
fuzzobj      = $(patsubst %.c,$(FUZZ_OBJDIR)/%.o,$(1))
FUZZ_BINS    = $(patsubst %,$(B)/fuzz/%,$(FUZZ_TARGETS))
FUZZ_RUNNERS = $(patsubst %,$(B)/tests/test_%,$(FUZZ_TARGETS))
# Input size limits: a record needs 16 KiB and more.
FUZZ_OPTS_fuzz_proto   = -max_len=8192
FUZZ_OPTS_fuzz_conf    = -max_len=8192 -dict=tests/fuzz/fuzz_conf.dict
FUZZ_OPTS_fuzz_record  = -max_len=20000
FUZZ_OPTS_fuzz_handoff = -max_len=16384
FUZZ_OPTS_fuzz_proxy   = -max_len=12000
FUZZ_OPTS_fuzz_cert    = -max_len=20000

# The test build's view: every header, and the record layer's test hooks
# (tls_rec_send_raw seals the records fuzz_record sends).
$(FUZZ_OBJDIR)/%.o: %.c tests/fuzz/nocov.txt
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(INC_ALL) -DCP_TEST_HOOKS $(FUZZ_CFLAGS) \
	  -MMD -MP -c -o $@ $<

-include $(shell find $(FUZZ_OBJDIR) -name '*.d' 2>/dev/null)

$(B)/fuzz/libcpconnect.a: $(call fuzzobj,$(LIB_SRC) $(PROTO_SRC))
	@rm -f $@
	ar rcs $@ $^

$(B)/fuzz/fuzz_proto: $(call fuzzobj,tests/fuzz/fuzz_proto.c $(PROTO_SRC))
$(B)/fuzz/fuzz_conf: $(call fuzzobj,tests/fuzz/fuzz_conf.c daemon/conf.c \
    proto/hostname.c)
$(B)/fuzz/fuzz_record: $(call fuzzobj,tests/fuzz/fuzz_record.c) \
    $(B)/fuzz/libcpconnect.a
$(B)/fuzz/fuzz_handoff: $(call fuzzobj,tests/fuzz/fuzz_handoff.c) \
    $(B)/fuzz/libcpconnect.a
$(B)/fuzz/fuzz_proxy: $(call fuzzobj,tests/fuzz/fuzz_proxy.c daemon/proxy.c \
    daemon/ev.c)
$(B)/fuzz/fuzz_cert: $(call fuzzobj,tests/fuzz/fuzz_cert.c daemon/keydecode.c)
$(FUZZ_BINS):
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIB_LIBS)

fuzz-build: $(FUZZ_BINS)

# One target after another; a crash, leak or hang stops here.
fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(B)/fuzz/corpus/$$t $(B)/fuzz/artifacts/$$t; \
	  echo "== $$t: $(FUZZ_TIME) s, output in $(B)/fuzz/$$t.log"; \
	  case $$t in \
	  fuzz_proto) o="$(FUZZ_OPTS_fuzz_proto)";; \
	  fuzz_conf) o="$(FUZZ_OPTS_fuzz_conf)";; \
	  fuzz_record) o="$(FUZZ_OPTS_fuzz_record)";; \
	  fuzz_proxy) o="$(FUZZ_OPTS_fuzz_proxy)";; \
	  fuzz_cert) o="$(FUZZ_OPTS_fuzz_cert)";; \
	  *) o="$(FUZZ_OPTS_fuzz_handoff)";; \
	  esac; \
	  $(B)/fuzz/$$t -max_total_time=$(FUZZ_TIME) -timeout=25 \
	    -print_final_stats=1 $$o -artifact_prefix=$(B)/fuzz/artifacts/$$t/ \
	    $(FUZZ_FLAGS) $(B)/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	    >$(B)/fuzz/$$t.log 2>&1; rc=$$?; \
	  grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
	    $(B)/fuzz/$$t.log; \
	  if [ $$rc -ne 0 ]; then tail -n 60 $(B)/fuzz/$$t.log; \
	    echo "fuzz: $$t failed (exit $$rc); inputs in $(B)/fuzz/artifacts/$$t"; \
	    exit 1; fi; \
	done

fuzz-corpus: $(B)/fuzz/gencorpus
	$(B)/fuzz/gencorpus tests/fuzz/corpus
	for f in tests/conf/*.conf examples/cpconnectd.conf; do \
	  cp $$f tests/fuzz/corpus/fuzz_conf/file-$$(basename $$f); done
	sh tests/fuzz/certseeds.sh tests/fuzz/corpus/fuzz_cert

$(B)/fuzz/gencorpus: $(B)/obj/tests/fuzz/gencorpus.o $(LIBINT_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

# The corpus runners: a fuzz target and runner.c's main().
tests: $(FUZZ_RUNNERS)
$(FUZZ_RUNNERS): $(B)/tests/test_%: $(B)/obj/tests/fuzz/%.o \
    $(B)/obj/tests/fuzz/runner.o $(TESTLIB_A) $(DAEMONT_A) $(LIBINT_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(B)/obj/tests/fuzz/runner.o \
	  $(TEST_LINK)

.PHONY: fuzz fuzz-build fuzz-corpus
