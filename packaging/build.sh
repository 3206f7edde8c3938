#!/usr/bin/env bash
# Builds the Atalaya packages from this checkout:
#   atalaya-agent_<version>_<arch>.deb      atalaya-agent (binary, unit, agent.toml)
#   atalaya-collector_<version>_<arch>.deb  atalaya-collector and atalaya (binaries,
#                                           unit, sysusers, collector.toml, rules.toml)
# with man pages and bash/zsh/fish completions generated from the programs'
# own command-line definitions. The binaries are built once (honouring
# CARGO_TARGET_DIR), stripped into one staged tree per package, and each
# tree is packed with dpkg-deb, and with --rpm also with rpmbuild.
#
#   packaging/build.sh [--out DIR] [--rpm] [--profile NAME] [--version V]
#
#   --out DIR       where the packages go (default: target/packages)
#   --rpm           also build the RPMs
#   --profile NAME  the cargo profile whose binaries are packed: release
#                   (the default; what is shipped, xz-compressed), or dev
#                   (alias debug: the binaries of the test build in
#                   target/debug, built with the test suite's own command,
#                   `cargo build --locked --workspace --bins`, a no-op after
#                   it; packed with gzip -1, for testing the packaging)
#   --version V     the package version (default: the crates' version), e.g.
#                   an older one to test upgrades with
#
# Needs: cargo, dpkg-deb (dpkg), gzip, strip (binutils); dpkg-shlibdeps
# (dpkg-dev) for the library dependencies (without it: libc6, libgcc-s1);
# rpmbuild (rpm) for --rpm.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
out=""
rpm=false
profile=release
version=""
# need_value OPTION COUNT: OPTION must be followed by a value.
need_value() { [ "$2" -ge 2 ] || { echo "build.sh: $1 needs a value" >&2; exit 2; }; }
while (($#)); do
    case "$1" in
    --out) need_value "$1" $#; out="$2"; shift 2 ;;
    --rpm) rpm=true; shift ;;
    --profile) need_value "$1" $#; profile="$2"; shift 2 ;;
    --version) need_value "$1" $#; version="$2"; shift 2 ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $1 (expected --out DIR, --rpm, --profile NAME or --version V)" >&2; exit 2 ;;
    esac
done
case "$profile" in
release | dev | debug) ;;
*) echo "build.sh: unknown profile: $profile (expected release, or dev for the test build)" >&2; exit 2 ;;
esac
# A version both dpkg and rpm take: digits first, then letters, digits and
# . + ~ (no hyphen: that would start a Debian revision or break rpm's).
if [ -n "$version" ] && ! [[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
    echo "build.sh: --version $version is not a package version (expected e.g. 0.2.0 or 0.2.0~rc1)" >&2
    exit 2
fi

cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="${out:-$target/packages}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [ "$profile" = release ]; then
    echo "== cargo build --release"
    cargo build --release --locked -p atalaya-agent -p atalaya-collector
    bin="$target/release"
    compress=(-Zxz)
    rpm_payload=""
else
    # The test suite's own build command: building only the two packages
    # would unify the dependencies' features differently and build the
    # agent again.
    echo "== cargo build --workspace --bins (the test build)"
    cargo build --locked --workspace --bins
    bin="$target/debug"
    compress=(-Zgzip -z1)
    rpm_payload=w1.gzdio
fi

version="${version:-$(cargo pkgid -p atalaya-agent | sed 's/.*[@#]//')}"
arch="$(dpkg --print-architecture)"
maintainer="${ATALAYA_MAINTAINER:-Atalaya maintainers <root@localhost>}"

# The staged trees live outside the target directory, so a run as root
# leaves nothing there its owner cannot remove.
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# Man pages and completions, written by each program's hidden
# `generate-docs` command from the definitions its parser uses.
docs="$stage/docs"
for program in atalaya-agent atalaya-collector atalaya; do
    "$bin/$program" generate-docs "$docs/$program" >/dev/null
done

# install_docs ROOT PROGRAM: its pages (gzipped) and completions into ROOT.
install_docs() {
    local root="$1" program="$2" page
    install -d -m 0755 "$root/usr/share/man/man1" \
        "$root/usr/share/bash-completion/completions" \
        "$root/usr/share/zsh/vendor-completions" \
        "$root/usr/share/fish/vendor_completions.d"
    for page in "$docs/$program"/man1/*.1; do
        gzip -9n <"$page" >"$root/usr/share/man/man1/$(basename "$page").gz"
        chmod 0644 "$root/usr/share/man/man1/$(basename "$page").gz"
    done
    install -m 0644 "$docs/$program/bash/$program" "$root/usr/share/bash-completion/completions/$program"
    install -m 0644 "$docs/$program/zsh/_$program" "$root/usr/share/zsh/vendor-completions/_$program"
    install -m 0644 "$docs/$program/fish/$program.fish" "$root/usr/share/fish/vendor_completions.d/$program.fish"
}

# install_common ROOT PACKAGE: copyright and the unit's tmpfiles entry.
install_common() {
    local root="$1" package="$2"
    install -d -m 0755 "$root/usr/share/doc/$package" "$root/usr/lib/tmpfiles.d" \
        "$root/usr/lib/systemd/system" "$root/usr/bin"
    install -d -m 0755 "$root/etc/atalaya"
    printf '%s\n' \
        "Atalaya — fleet inventory, health monitoring and help desk." \
        "" \
        "License: Apache-2.0" \
        "On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0." \
        >"$root/usr/share/doc/$package/copyright"
    chmod 0644 "$root/usr/share/doc/$package/copyright"
    install -m 0644 "$here/systemd/$package.service" "$root/usr/lib/systemd/system/$package.service"
    # The agent's path unit starts it once the machine is enrolled.
    if [ -e "$here/systemd/$package.path" ]; then
        install -m 0644 "$here/systemd/$package.path" "$root/usr/lib/systemd/system/$package.path"
    fi
    install -m 0644 "$here/systemd/$package.tmpfiles" "$root/usr/lib/tmpfiles.d/$package.conf"
}

# install_binary BINARY DEST: BINARY without its symbols and debug
# information (release binaries are stripped by cargo already; the test
# build's would make packages ten times larger), mode 0755.
install_binary() {
    install -d -m 0755 "$(dirname "$2")"
    strip -o "$2" "$1"
    chmod 0755 "$2"
}

agent="$stage/atalaya-agent"
install_common "$agent" atalaya-agent
install_binary "$bin/atalaya-agent" "$agent/usr/bin/atalaya-agent"
# The agent's configuration may hold the enrollment token: root only.
install -m 0600 "$repo/config/agent.toml" "$agent/etc/atalaya/agent.toml"
install_docs "$agent" atalaya-agent

collector="$stage/atalaya-collector"
install_common "$collector" atalaya-collector
install_binary "$bin/atalaya-collector" "$collector/usr/bin/atalaya-collector"
install_binary "$bin/atalaya" "$collector/usr/bin/atalaya"
# Group atalaya and mode 0640 are set by postinst, once the group exists.
install -m 0640 "$repo/config/collector.toml" "$collector/etc/atalaya/collector.toml"
install -m 0640 "$repo/config/rules.toml" "$collector/etc/atalaya/rules.toml"
install -d -m 0755 "$collector/usr/lib/sysusers.d"
install -m 0644 "$here/systemd/atalaya-collector.sysusers" "$collector/usr/lib/sysusers.d/atalaya-collector.conf"
install_docs "$collector" atalaya-collector
install_docs "$collector" atalaya

# shlibs BINARY...: the Depends of the libraries they link.
shlibs() {
    local work deps
    if command -v dpkg-shlibdeps >/dev/null 2>&1; then
        work="$(mktemp -d)"
        mkdir "$work/debian"
        printf 'Source: atalaya\n\nPackage: atalaya\nArchitecture: any\n' >"$work/debian/control"
        deps="$(cd "$work" && dpkg-shlibdeps -O "$@" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
        rm -rf "$work"
        [ -n "$deps" ] && { echo "$deps"; return; }
    fi
    echo "libc6, libgcc-s1"
}

# pack PACKAGE BINARY...: DEBIAN/ from the templates, then the .deb.
pack() {
    local package="$1" root="$stage/$1" size deps f
    shift
    install -d -m 0755 "$root/DEBIAN"
    for f in conffiles postinst prerm postrm; do
        install -m "$([ "$f" = conffiles ] && echo 0644 || echo 0755)" \
            "$here/debian/$package/$f" "$root/DEBIAN/$f"
    done
    size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    deps="$(shlibs "$@")"
    sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
        -e "s|@SIZE@|$size|" -e "s|@SHLIBS@|$deps|" \
        "$here/debian/$package/control" >"$root/DEBIAN/control"
    chmod 0644 "$root/DEBIAN/control"
    dpkg-deb --build --root-owner-group "${compress[@]}" "$root" "$out/${package}_${version}_${arch}.deb" >/dev/null
    echo "$out/${package}_${version}_${arch}.deb"
}

echo "== packages"
pack atalaya-agent "$agent/usr/bin/atalaya-agent"
pack atalaya-collector "$collector/usr/bin/atalaya-collector" "$collector/usr/bin/atalaya"

if $rpm; then
    "$here/rpm/build-rpm.sh" "$stage" "$out" "$version" $rpm_payload
fi
