#!/usr/bin/env bash
# Builds the Atalaya packages from this checkout:
#   atalaya-agent_<version>_<arch>.deb      atalaya-agent (binary, unit, agent.toml)
#   atalaya-collector_<version>_<arch>.deb  atalaya-collector and atalaya (binaries,
#                                           unit, sysusers, collector.toml, rules.toml)
# with man pages and bash/zsh/fish completions generated from the programs'
# own command-line definitions. The release binaries are built once
# (honouring CARGO_TARGET_DIR); each package is staged as a tree and packed
# with dpkg-deb, and with --rpm also with rpmbuild from the same tree.
#
#   packaging/build.sh [--out DIR] [--rpm]     (default DIR: target/packages)
#
# Needs: cargo, dpkg-deb (dpkg), gzip; dpkg-shlibdeps (dpkg-dev) for the
# library dependencies (without it: libc6, libgcc-s1); rpmbuild (rpm) for --rpm.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
out=""
rpm=false
while (($#)); do
    case "$1" in
    --out)
        [ $# -ge 2 ] || { echo "build.sh: --out needs a directory" >&2; exit 2; }
        out="$2"
        shift 2
        ;;
    --rpm) rpm=true; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $1 (expected --out DIR or --rpm)" >&2; exit 2 ;;
    esac
done

cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="${out:-$target/packages}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

echo "== cargo build --release"
cargo build --release --locked -p atalaya-agent -p atalaya-collector
bin="$target/release"

version="$(cargo pkgid -p atalaya-agent | sed 's/.*[@#]//')"
arch="$(dpkg --print-architecture)"
maintainer="${ATALAYA_MAINTAINER:-Atalaya maintainers <root@localhost>}"

stage="$target/packaging-stage"
rm -rf "$stage"
mkdir -p "$stage"

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
    install -m 0644 "$here/systemd/$package.tmpfiles" "$root/usr/lib/tmpfiles.d/$package.conf"
}

agent="$stage/atalaya-agent"
install_common "$agent" atalaya-agent
install -m 0755 "$bin/atalaya-agent" "$agent/usr/bin/atalaya-agent"
# The agent's configuration may hold the enrollment token: root only.
install -m 0600 "$repo/config/agent.toml" "$agent/etc/atalaya/agent.toml"
install_docs "$agent" atalaya-agent

collector="$stage/atalaya-collector"
install_common "$collector" atalaya-collector
install -m 0755 "$bin/atalaya-collector" "$collector/usr/bin/atalaya-collector"
install -m 0755 "$bin/atalaya" "$collector/usr/bin/atalaya"
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
    dpkg-deb --build --root-owner-group -Zxz "$root" "$out/${package}_${version}_${arch}.deb" >/dev/null
    echo "$out/${package}_${version}_${arch}.deb"
}

echo "== packages"
pack atalaya-agent "$bin/atalaya-agent"
pack atalaya-collector "$bin/atalaya-collector" "$bin/atalaya"

if $rpm; then
    "$here/rpm/build-rpm.sh" "$stage" "$out" "$version"
fi
