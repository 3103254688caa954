# cpconnect: one build, no configure step.
#   make            build everything into $(B)/
#   make run        install missing packages, build, run the daemon (foreground)
#   make check      install missing packages, build, run every test
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
CPPFLAGS += -D_GNU_SOURCE -Iproto -Ilib -Ilib/include -Idaemon -Itests
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
LIB_SO   = $(B)/libcpconnect.so.$(SOMAJOR)
DAEMON   = $(B)/cpconnectd
CLI      = $(B)/cpconnect
UNITS    = $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TESTCS   = $(patsubst tests/integration/%.c,$(B)/tests/%,$(TESTC_SRC))
BENCHES  = $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
EXAMPLES = $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))
VMBINS   = $(patsubst tests/vm/%.c,$(B)/vm/bin/%,$(VM_SRC))

all: $(DAEMON) $(LIB_SO) $(B)/libcpconnect.so $(LIB_A) $(CLI) $(B)/cpconnect.pc
tests: all $(UNITS) $(TESTCS) $(EXAMPLES) $(VMBINS)
benches: all $(BENCHES)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLCFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

$(PROTO_A): $(call obj,$(PROTO_SRC))
	@rm -f $@
	ar rcs $@ $^
$(DAEMON_A): $(call obj,$(DAEMON_SRC))
	@rm -f $@
	ar rcs $@ $^
$(LIB_A): $(call obj,$(LIB_SRC) $(PROTO_SRC))
	@rm -f $@
	ar rcs $@ $^

$(DAEMON): $(call obj,daemon/cpconnectd.c) $(DAEMON_A) $(PROTO_A)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(LIB_SO): $(call obj,$(LIB_SRC) $(PROTO_SRC)) lib/libcpconnect.map
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -shared -Wl,-soname,libcpconnect.so.$(SOMAJOR) \
	  -Wl,--version-script=lib/libcpconnect.map -Wl,-z,relro,-z,now \
	  -o $@ $(call obj,$(LIB_SRC) $(PROTO_SRC)) $(LIB_LIBS)
$(B)/libcpconnect.so: $(LIB_SO)
	ln -sf libcpconnect.so.$(SOMAJOR) $@

$(CLI): $(call obj,$(wildcard cli/*.c)) $(LIB_A)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

# Tests and benchmarks may use any internal module of the daemon or the
# library; the archives pull in only what a program refers to.
TESTLIB_A = $(B)/libcptest.a
TEST_LINK = -Wl,--start-group $(TESTLIB_A) $(DAEMON_A) $(LIB_A) $(PROTO_A) -Wl,--end-group \
            $(DAEMON_LIBS) $(LIB_LIBS) -lcunit
$(TESTLIB_A): $(call obj,$(TESTLIB_SRC))
	@rm -f $@
	ar rcs $@ $^
$(B)/tests/%: $(B)/obj/tests/unit/%.o $(TESTLIB_A) $(DAEMON_A) $(LIB_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LINK)
$(B)/tests/%: $(B)/obj/tests/integration/%.o $(TESTLIB_A) $(DAEMON_A) $(LIB_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LINK)
$(B)/bench/%: $(B)/obj/bench/%.o $(TESTLIB_A) $(DAEMON_A) $(LIB_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LINK)
# The VM suite's programs run inside a small initramfs: only the library
# and what it needs, so few shared objects go into the image.
$(B)/vm/bin/%: $(B)/obj/tests/vm/%.o $(LIB_A) $(PROTO_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(PROTO_A) $(LIB_LIBS)
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

check: deps tests
	@B=$(B) SAN=$(SAN) sh tests/run.sh

bench: deps benches
	@B=$(B) sh bench/run.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
	  $(DESTDIR)$(INCDIR)/cprops $(DESTDIR)$(PCDIR)
	install -m 755 $(DAEMON) $(DESTDIR)$(SBINDIR)/cpconnectd
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/cpconnect
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
	  $(DESTDIR)$(LIBDIR)/libcpconnect.so* $(DESTDIR)$(LIBDIR)/libcpconnect.a \
	  $(DESTDIR)$(INCDIR)/cprops/client.h $(DESTDIR)$(PCDIR)/cpconnect.pc
	-rmdir $(DESTDIR)$(INCDIR)/cprops 2>/dev/null
	@sh scripts/install-extra.sh -u "$(DESTDIR)" "$(MANDIR)" "$(UNITDIR)" "$(SYSCONFDIR)" "$(PREFIX)"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B)

.PHONY: all tests benches deps run check bench install uninstall format clean
.SECONDARY:
