#!/usr/bin/env bash
# A real single-node OpenSearch on 127.0.0.1, without Docker: the server and
# module jars of a pinned release (MODULES, and OPTIONAL_MODULES where
# published) are fetched from Maven Central with the machine's Maven, cached
# under ~/.cache/confluence-operator/opensearch, and started in one JVM by
# hack/opensearch/OpenSearchLauncher.java.
#
#   hack/opensearch.sh run -- CMD...   start a node, run CMD with OPENSEARCH_URL
#                                      set, stop the node (also when CMD fails);
#                                      with OPENSEARCH_URL already set, run CMD
#                                      against that cluster and start nothing
#   hack/opensearch.sh start           start a node in the background; prints its URL
#   hack/opensearch.sh stop            stop the node that start started
#   hack/opensearch.sh fetch           fetch and compile (cached); prints the cache directory
#   hack/opensearch.sh version         print the version that would run
#   hack/opensearch.sh pins            print the pinned releases, 3.x first
#
# Environment:
#   OPENSEARCH_VERSION    a release to run (default: the 3.x pin when a Java 21+
#                         is found, else the 2.19 pin, which runs on Java 17)
#   OPENSEARCH_JAVA_HOME  the JDK to run it with (default: found, see find_java)
#   OPENSEARCH_HEAP       heap size (default 1g)
#   OPENSEARCH_JAVA_OPTS  extra JVM options (default -XX:TieredStopAtLevel=1: the
#                         C1 compiler only, which starts the node on less than
#                         half the CPU; set it empty for the full JIT, as
#                         `make bench` does)
#   OPENSEARCH_DIR        node directory of start/stop (default $TMPDIR/confluence-operator-opensearch)
#   OPENSEARCH_START_TIMEOUT  seconds to wait for the node (default 300)
set -euo pipefail

# Pinned releases. Both are published on Maven Central with every module
# in MODULES; 3.x needs Java 21 or newer.
PIN_3=3.9.0
PIN_2=2.19.6

# Module jars of the distribution, as published under org.opensearch.plugin,
# that the launcher loads as classpath plugins. A fetch fails without any of
# them.
MODULES="transport-netty4-client analysis-common reindex-client lang-painless mapper-extras-client"
# Modules fetched only where Maven Central publishes them for the version,
# and loaded by the launcher when they are on the classpath. ingest-common
# (the set, script, grok, ... ingest processors) is published for 2.19.6 but
# not for 3.9.0 (the newest 3.x there is 3.8.0), so only the 2.19.6 node runs
# ingest pipelines with processors. Never mix in another release's jar (e.g.
# ingest-common 3.8.0 into 3.9.0): a module is built against its server's
# exact version and the node refuses or breaks on anything else.
OPTIONAL_MODULES="ingest-common"

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/confluence-operator/opensearch
launcher_src=$root/hack/opensearch/OpenSearchLauncher.java

say() { echo "opensearch.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# java_major prints the feature version of a java binary (17, 21, 25, ...).
java_major() {
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | sed 's/^1\.//'
}

# find_java prints a JAVA_HOME with java and javac of at least version $1.
find_java() {
  local want=$1 home candidates=()
  [ -n "${OPENSEARCH_JAVA_HOME:-}" ] && candidates+=("$OPENSEARCH_JAVA_HOME")
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v javac >/dev/null; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")")
  fi
  # Newest first: /usr/lib/jvm/temurin-25-jdk-amd64, java-21-openjdk-amd64, ...
  for home in $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -t- -k2 -V -r); do candidates+=("${home%/}"); done
  for home in "${candidates[@]}"; do
    [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ] || continue
    local v
    v=$(java_major "$home/bin/java")
    if [ -n "$v" ] && [ "$v" -ge "$want" ]; then
      echo "$home"
      return 0
    fi
  done
  return 1
}

# select_version sets version and java_home.
select_version() {
  version=${OPENSEARCH_VERSION:-}
  if [ -z "$version" ]; then
    if java_home=$(find_java 21); then
      version=$PIN_3
    elif java_home=$(find_java 17); then
      version=$PIN_2
      say "no Java 21+ JDK found (set OPENSEARCH_JAVA_HOME): running OpenSearch $PIN_2, which runs on Java 17"
    else
      die "OpenSearch needs a JDK 17 or newer (java and javac); none found (set OPENSEARCH_JAVA_HOME)"
    fi
    return
  fi
  local need=17
  [ "${version%%.*}" -ge 3 ] && need=21
  java_home=$(find_java "$need") ||
    die "OpenSearch $version needs a JDK $need or newer (java and javac); none found (set OPENSEARCH_JAVA_HOME, or OPENSEARCH_VERSION=$PIN_2 for Java 17)"
}

# fetch resolves the server and modules of $version into $cache/$version and
# compiles the launcher; prints nothing, sets classpath and cds_archive.
#
# A version counts as fetched for one set of inputs (module lists and the code
# that resolves them): $cache/$version/classpath-<key>. Changing them makes a
# new key, so the next fetch resolves again into a fresh file, moved into
# place in one rename; a running node keeps its jars (all under $cache/m2,
# never deleted) and its launcher directory, which is keyed by the launcher's
# source and the classpath.
fetch() {
  local dir=$cache/$version key
  key=$({ echo "$MODULES" "$OPTIONAL_MODULES"; declare -f resolve mvn_classpath write_pom; } | sha256sum | cut -c1-12)
  local cpfile=$dir/classpath-$key
  if [ ! -f "$cpfile" ]; then
    command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch OpenSearch $version from Maven Central"
    mkdir -p "$dir"
    # One fetch at a time: Maven does not share a local repository safely.
    exec 9>"$cache/fetch.lock"
    command -v flock >/dev/null && flock 9
    [ -f "$cpfile" ] || resolve "$dir" "$cpfile"
    exec 9>&-
  fi
  local deps missing="" m
  deps=$(cat "$cpfile")
  for m in $OPTIONAL_MODULES; do
    case ":$deps:" in *"/$m-$version.jar:"*) ;; *) missing="$missing $m" ;; esac
  done
  if [ -n "$missing" ]; then
    say "OpenSearch $version runs without${missing}: not published on Maven Central for $version"
    case " $missing " in *" ingest-common "*) say "so the node has no ingest processors (set, script, ...); OPENSEARCH_VERSION=$PIN_2 has them" ;; esac
  fi
  local sum
  sum=$({ cat "$launcher_src"; echo "$deps"; } | sha256sum | cut -c1-12)
  local classes=$dir/launcher-$sum
  # A jar, not a directory: class data sharing archives only jars.
  if [ ! -f "$classes/launcher.jar" ]; then
    local tmp
    tmp=$(mktemp -d "$dir/launcher.XXXXXX") && chmod 755 "$tmp"
    mkdir "$tmp/classes"
    "$java_home/bin/javac" -nowarn -d "$tmp/classes" -cp "$deps" "$launcher_src"
    "$java_home/bin/jar" cf "$tmp/launcher.jar" -C "$tmp/classes" .
    # Another fetch may have finished first: keep its directory, a node may
    # be using it.
    mv -T "$tmp" "$classes" 2>/dev/null || rm -rf "$tmp"
    [ -f "$classes/launcher.jar" ] || die "could not compile the launcher into $classes (remove it and retry)"
  fi
  classpath=$classes/launcher.jar:$deps
  # The classes a node loads, archived at the end of its first run and
  # mapped by later ones (class data sharing): warm starts load and verify
  # none of them again, which saves about 40% of the start-up CPU.
  cds_archive=$classes/classes-java$(java_major "$java_home/bin/java").jsa
}

# resolve writes the classpath of the server and modules of $version to $2,
# resolving them with Maven in a scratch directory under $1.
resolve() {
  local dir=$1 out=$2 work optional=$OPTIONAL_MODULES absent m
  work=$(mktemp -d "$dir/fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  say "fetching OpenSearch $version from Maven Central into $dir"
  # An optional module Maven Central does not have for $version is left out;
  # any other failure (network, a required module) stops the fetch. Maven
  # says "Could not find artifact G:A:jar:V", and once that is cached in the
  # local repository "G:A:jar:V was not found in ... during a previous
  # attempt" (3.8.7) or "Failure to find G:A:jar:V" (older releases).
  while :; do
    write_pom "$work/pom.xml" "" "$optional"
    mvn_classpath "$work" "$work/classpath" try && break
    absent=
    for m in $optional; do
      local coord="org.opensearch.plugin:$m:jar:$version"
      if grep -qE "(Could not find artifact|Failure to find) $coord|$coord was not found" "$work/mvn.log"; then absent="$absent $m"; fi
    done
    [ -n "$absent" ] || { cat "$work/mvn.log" >&2; die "Maven could not fetch OpenSearch $version (log above)"; }
    for m in $absent; do
      optional=$(echo " $optional " | sed "s/ $m / /; s/^ *//; s/ *$//")
    done
  done
  # The server logs through the log4j API and needs log4j-core at the
  # API's version (the distribution ships it in lib/).
  local log4j
  log4j=$(tr ':' '\n' <"$work/classpath" | sed -n 's|.*/log4j-api-\([0-9][^/]*\)\.jar$|\1|p' | head -1)
  [ -n "$log4j" ] || die "OpenSearch $version: no log4j-api among its dependencies"
  write_pom "$work/pom.xml" "$log4j" "$optional"
  mvn_classpath "$work" "$work/classpath"
  mv "$work/classpath" "$out"
  rm -rf "$work"
  trap - EXIT
}

# mvn_classpath resolves $1/pom.xml into the classpath file $2; with a third
# argument it returns 1 on failure instead of stopping (log in $1/mvn.log).
mvn_classpath() {
  # Everything Maven downloads stays in the cache, not in ~/.m2.
  mvn -B -q -f "$1/pom.xml" -Dmaven.repo.local="$cache/m2" \
    dependency:build-classpath -Dmdep.outputFile="$2" >"$1/mvn.log" 2>&1 && return 0
  [ -n "${3:-}" ] && return 1
  cat "$1/mvn.log" >&2
  die "Maven could not fetch OpenSearch $version (log above)"
}

# write_pom writes a pom depending on the server, MODULES and the modules in
# $3, and on log4j-core $2 when given.
write_pom() {
  local v=$version log4j=$2 m
  {
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0">'
    echo '  <modelVersion>4.0.0</modelVersion>'
    echo "  <groupId>local.confluence-operator</groupId><artifactId>opensearch-runtime</artifactId><version>$v</version><packaging>pom</packaging>"
    echo '  <dependencies>'
    echo "    <dependency><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId><version>$v</version></dependency>"
    for m in $MODULES $3; do
      echo "    <dependency><groupId>org.opensearch.plugin</groupId><artifactId>$m</artifactId><version>$v</version></dependency>"
    done
    if [ -n "$log4j" ]; then
      echo "    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$log4j</version></dependency>"
    fi
    echo '  </dependencies>'
    echo '</project>'
  } >"$1"
}

# start_node starts a node in directory $1 in the background, watching pid $2
# (0: none), and waits for its URL.
start_node() {
  local dir=$1 watch=$2
  rm -rf "$dir"
  mkdir -p "$dir/tmp"
  local opts=(
    "-Xms${OPENSEARCH_HEAP:-1g}" "-Xmx${OPENSEARCH_HEAP:-1g}"
    -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow
    -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djava.io.tmpdir="$dir/tmp"
    -Dlog4j2.level=INFO -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0
  )
  # Word splitting is intended: several options in one variable.
  # shellcheck disable=SC2206
  opts+=(${OPENSEARCH_JAVA_OPTS--XX:TieredStopAtLevel=1})
  # Lucene 10 maps index files through java.lang.foreign (Java 22+).
  [ "$(java_major "$java_home/bin/java")" -ge 22 ] && opts+=(--enable-native-access=ALL-UNNAMED)
  if [ -f "$cds_archive" ]; then
    opts+=(-XX:SharedArchiveFile="$cds_archive")
  else
    opts+=(-XX:ArchiveClassesAtExit="$dir/classes.jsa")
  fi
  local args=(--home "$dir")
  [ "$watch" != 0 ] && args+=(--watch-pid "$watch")
  local t0=$SECONDS
  say "starting OpenSearch $version (Java $(java_major "$java_home/bin/java"), log $dir/opensearch.log)"
  # setsid: a Ctrl-C in the terminal reaches the caller, which stops the node
  # in order, not the JVM directly.
  setsid "$java_home/bin/java" "${opts[@]}" -cp "$classpath" OpenSearchLauncher "${args[@]}" \
    >"$dir/opensearch.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  local pid=$! timeout=${OPENSEARCH_START_TIMEOUT:-300}
  while [ ! -s "$dir/url" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -40 "$dir/opensearch.log" >&2
      die "OpenSearch $version exited while starting (log above, full log in $dir/opensearch.log)"
    fi
    if [ $((SECONDS - t0)) -ge "$timeout" ]; then
      stop_node "$dir"
      die "OpenSearch $version did not start within ${timeout}s"
    fi
    sleep 0.2
  done
  url=$(cat "$dir/url")
  say "OpenSearch $version is up at $url after $((SECONDS - t0))s"
}

stop_node() {
  local dir=$1 pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid" "$dir/url"
  # Written by the JVM on its way out of a first run; the rename keeps
  # concurrent runs from mapping a half-written archive.
  if [ -s "$dir/classes.jsa" ] && [ -n "${cds_archive:-}" ] && [ ! -f "$cds_archive" ]; then
    cp "$dir/classes.jsa" "$cds_archive.$$" && mv "$cds_archive.$$" "$cds_archive" || rm -f "$cds_archive.$$"
  fi
}

# print_remote_version names the version of a cluster given by OPENSEARCH_URL.
print_remote_version() {
  local auth=() v
  [ -n "${OPENSEARCH_USERNAME:-}" ] && auth=(-u "$OPENSEARCH_USERNAME:${OPENSEARCH_PASSWORD:-}")
  [ "${OPENSEARCH_INSECURE:-}" = true ] && auth+=(-k)
  v=$(curl -sf --max-time 10 "${auth[@]}" "$OPENSEARCH_URL/" 2>/dev/null | sed -n 's/.*"number" *: *"\([^"]*\)".*/\1/p' | head -1) || true
  say "using OpenSearch ${v:-(version unknown)} at $OPENSEARCH_URL (from OPENSEARCH_URL)"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  version)
    select_version
    echo "$version"
    ;;
  pins)
    echo "$PIN_3"
    echo "$PIN_2"
    ;;
  fetch)
    select_version
    fetch
    echo "$cache/$version"
    ;;
  start)
    select_version
    fetch
    dir=${OPENSEARCH_DIR:-${TMPDIR:-/tmp}/confluence-operator-opensearch}
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && [ -s "$dir/url" ]; then
      say "already running"
      cat "$dir/url"
      exit 0
    fi
    start_node "$dir" 0
    echo "$url"
    ;;
  stop)
    dir=${OPENSEARCH_DIR:-${TMPDIR:-/tmp}/confluence-operator-opensearch}
    stop_node "$dir"
    rm -rf "$dir"
    ;;
  run)
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: hack/opensearch.sh run -- CMD..."
    if [ -n "${OPENSEARCH_URL:-}" ]; then
      print_remote_version
      exec "$@"
    fi
    select_version
    fetch
    dir=$(mktemp -d "${TMPDIR:-/tmp}/confluence-operator-opensearch.XXXXXX")
    trap 'stop_node "$dir"; rm -rf "$dir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # The node also stops when this script dies without running its traps.
    start_node "$dir" $$
    export OPENSEARCH_URL=$url OPENSEARCH_VERSION=$version
    unset OPENSEARCH_USERNAME OPENSEARCH_PASSWORD OPENSEARCH_INSECURE
    rc=0
    "$@" || rc=$?
    exit $rc
    ;;
  *)
    # The comment at the top of this file, up to its first command.
    sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
