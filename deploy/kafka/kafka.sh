#!/usr/bin/env bash
# Apache Kafka (KRaft) on loopback for local runs and tests: one broker+controller JVM, or a cluster of them.
#
#   deploy/kafka/kafka.sh fetch               download the broker jars (first run only), print the libs dir
#   deploy/kafka/kafka.sh start <dir> [port]  format <dir>, start Kafka in the background, wait until the
#                                             PLAINTEXT port accepts TCP, print "127.0.0.1:<port>" (last stdout line)
#   deploy/kafka/kafka.sh run   <dir> [port]  same, but in the foreground (exec java; Ctrl-C stops it)
#   deploy/kafka/kafka.sh cluster <dir> [n]   n brokers (default 3), each broker and controller (a quorum of n) in
#                                             <dir>/broker-<id>, ids 1..n; topics default to replication factor
#                                             min(n, 3) and min.insync.replicas that minus 1; print the bootstrap
#                                             list "127.0.0.1:<p1>,127.0.0.1:<p2>,..." (also in <dir>/bootstrap)
#   deploy/kafka/kafka.sh resume <dir>        start again a broker that was stopped or killed, keeping its data
#                                             (<dir>: a `start` directory or a cluster's broker-<id>)
#   deploy/kafka/kafka.sh stop  <dir>         SIGTERM the broker started in <dir> (every broker of a cluster <dir>),
#                                             SIGKILL after KAFKA_STOP_GRACE s
#   deploy/kafka/kafka.sh status <dir>        exit 0 if the broker started in <dir> (every broker of a cluster) is alive
#
# Files in <dir>: server.properties, log4j.properties, heap, kafka.pid, bootstrap, data/ (log.dirs),
#                 logs/server.log (log4j, WARN+ and startup lines), logs/kafka.out (JVM stdout/stderr);
#                 with KAFKA_SASL_USERS also bootstrap-sasl, and with KAFKA_SASL_SSL=1 bootstrap-sasl-ssl and
#                 tls/ca.pem (the CA that signed the broker's certificate, for the clients).
#
# Environment:
#   KAFKA_VERSION      Apache Kafka version to fetch (default 3.9.2; 3.9.x = KRaft + old protocol versions)
#   MPX_CACHE_DIR      cache root (default ${XDG_CACHE_HOME:-~/.cache}/mpx); jars go to $MPX_CACHE_DIR/kafka-<v>/libs
#   KAFKA_HEAP_OPTS    default "-Xmx512m -Xms128m", in a cluster "-Xmx256m -Xms64m" per broker (kept in <dir>/heap
#                      for `resume`)
#   KAFKA_JVM_PERFORMANCE_OPTS  default "-XX:+UseSerialGC -XX:TieredStopAtLevel=1" (C1 only: ~1 s faster
#                      start on 2 cores; set it to "" for throughput measurements)
#   KAFKA_START_TIMEOUT  seconds to wait for the port in `start` (default 60)
#   KAFKA_STOP_GRACE   seconds between SIGTERM and SIGKILL in `stop` (default 10)
#   KAFKA_WATCH_PID    if set, `start` also spawns a watchdog that kills the broker once that pid exits
#                      (used by the pytest fixture so a crashed test run never leaves a broker behind)
#   KAFKA_EXTRA_PROPERTIES  extra lines appended to server.properties
#   KAFKA_SASL_USERS   "name:password[,name:password...]": also open a SASL_PLAINTEXT listener (SCRAM-SHA-512 and
#                      SCRAM-SHA-256) with these users, created at format time; its host:port goes to
#                      <dir>/bootstrap-sasl. Passwords without , ] = or spaces. The PLAINTEXT listener stays.
#   KAFKA_SASL_SSL     1 (with KAFKA_SASL_USERS): also a SASL_SSL listener (<dir>/bootstrap-sasl-ssl), with a
#                      throwaway CA and server certificate for 127.0.0.1 made by deploy/kafka/tls.py
#   KAFKA_PYTHON       Python with `cryptography` for tls.py (default: the repo's .venv, else python3)
#   KAFKA_NO_INSTALL   1: fail rather than apt-get install a missing Java or Maven (`make run` then falls back to
#                      its embedded broker)
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${MPX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mpx}"
KAFKA_HOME_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME_DIR/libs"

die() { echo "kafka.sh: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

apt_install() {
    # Last resort on a bare Debian/Ubuntu machine (CI images normally already have these); never with KAFKA_NO_INSTALL.
    if [ -z "${KAFKA_NO_INSTALL:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing $* with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
    else
        return 1
    fi
}

find_java() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; return; fi
    if command -v java >/dev/null 2>&1; then command -v java; return; fi
    apt_install openjdk-17-jre-headless || die "no java found (set JAVA_HOME or install a JRE 11+)"
    command -v java
}

find_mvn() {
    if command -v mvn >/dev/null 2>&1; then command -v mvn; return; fi
    apt_install maven || die "no mvn found (install Maven 3.x)"
    command -v mvn
}

libs_complete() { [ -f "$KAFKA_HOME_DIR/.complete" ] && [ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; }

cmd_fetch() {
    if libs_complete; then echo "$LIBS"; return 0; fi
    mkdir -p "$CACHE_ROOT"
    # Serialise concurrent fetches (parallel test runs) on a lock file.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$CACHE_ROOT/.kafka-$KAFKA_VERSION.lock"
        flock 9
        if libs_complete; then echo "$LIBS"; return 0; fi
    fi
    local mvn tmp start
    mvn="$(find_mvn)"
    tmp="$CACHE_ROOT/.kafka-$KAFKA_VERSION.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp/libs"
    start=$(date +%s)
    log "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME_DIR (first run only)"
    if ! "$mvn" -q -B -Dstyle.color=never -f "$HERE/pom.xml" \
            -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
        cat "$tmp/mvn.log" >&2
        rm -rf "$tmp"
        die "maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
    fi
    [ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "fetch produced no kafka_2.13 jar"; }
    rm -rf "$KAFKA_HOME_DIR"
    mkdir -p "$KAFKA_HOME_DIR"
    mv "$tmp/libs" "$LIBS"
    rm -rf "$tmp"
    touch "$KAFKA_HOME_DIR/.complete"
    log "fetched Kafka $KAFKA_VERSION in $(( $(date +%s) - start ))s"
    echo "$LIBS"
}

free_port() {
    # Ask the kernel for a free loopback port.
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
            return
        fi
    done
    # Fallback without Python: random high port that nothing is listening on.
    local p
    for _ in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "could not find a free port"
}

random_cluster_id() {
    # Kafka's Uuid: 16 random bytes, url-safe base64 without padding, must not start with '-'.
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        case "$id" in -*) ;; *) echo "$id"; return ;; esac
    done
}

# broker_alive PID: the pid is a running (non-zombie) Kafka broker JVM.
broker_alive() {
    local pid="$1" state
    [ -r "/proc/$pid/cmdline" ] || { kill -0 "$pid" 2>/dev/null; return; }
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
    [ -n "$state" ] && [ "$state" != Z ]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

prepare() {
    # prepare <dir> [port]: write configs and format storage; sets PORT, CPORT, DIR, JAVA
    [ $# -ge 1 ] || die "usage: kafka.sh start|run <dir> [port]"
    mkdir -p "$1"
    DIR="$(cd "$1" && pwd)"
    PORT="${2:-}"
    [ -n "$PORT" ] || PORT="$(free_port)"
    # A cluster member gets its controller port, node id, quorum, cluster id and replication from cmd_cluster.
    CPORT="${member_cport:-$(other_free_port "$PORT")}"
    local node_id="${member_id:-1}" voters="${member_voters:-1@127.0.0.1:$CPORT}"
    local replicas="${member_replicas:-1}" min_isr="${member_min_isr:-1}"
    JAVA="$(find_java)"
    cmd_fetch >/dev/null

    if [ -f "$DIR/kafka.pid" ] && broker_alive "$(cat "$DIR/kafka.pid")"; then
        die "a broker is already running from $DIR (pid $(cat "$DIR/kafka.pid")); use: kafka.sh stop $DIR"
    fi
    # Throwaway broker: always start from empty storage (`resume` keeps it).
    rm -rf "$DIR/data" "$DIR/logs" "$DIR/kafka.pid" "$DIR/bootstrap" "$DIR/bootstrap-sasl" "$DIR/bootstrap-sasl-ssl" \
        "$DIR/tls"
    mkdir -p "$DIR/data" "$DIR/logs"
    secure_listeners

    cat >"$DIR/server.properties" <<EOF
# generated by deploy/kafka/kafka.sh -- KRaft broker+controller for local runs/tests
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT$EXTRA_LISTENERS
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT$EXTRA_ADVERTISED
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT$EXTRA_PROTOCOLS
log.dirs=$DIR/data
num.partitions=8
default.replication.factor=$replicas
min.insync.replicas=$min_isr
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
# the compaction buffer (128 MiB by default) must fit in a small heap
log.cleaner.dedupe.buffer.size=16777216
EOF
    if [ -n "$SECURITY_PROPERTIES" ]; then printf '%s' "$SECURITY_PROPERTIES" >>"$DIR/server.properties"; fi
    if [ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]; then printf '%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$DIR/server.properties"; fi

    cat >"$DIR/log4j.properties" <<'EOF'
# Quiet broker logging: WARN and above (plus the start/stop lines) go to logs/server.log
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
EOF

    echo "${KAFKA_HEAP_OPTS:-${member_heap:--Xmx512m -Xms128m}}" >"$DIR/heap"
    jvm_opts
    if ! "$JAVA" "${JVM_OPTS[@]}" kafka.tools.StorageTool format \
            -t "${member_cluster_id:-$(random_cluster_id)}" -c "$DIR/server.properties" --ignore-formatted \
            ${SCRAM_ARGS[@]+"${SCRAM_ARGS[@]}"} >"$DIR/logs/format.out" 2>&1; then
        cat "$DIR/logs/format.out" >&2
        die "kafka-storage format failed"
    fi
    echo "127.0.0.1:$PORT" >"$DIR/bootstrap"
    if [ -n "$SASL_PORT" ]; then echo "127.0.0.1:$SASL_PORT" >"$DIR/bootstrap-sasl"; fi
    if [ -n "$SSL_PORT" ]; then echo "127.0.0.1:$SSL_PORT" >"$DIR/bootstrap-sasl-ssl"; fi
}

jvm_opts() {
    # JVM_OPTS for the broker in $DIR.
    JVM_OPTS=(
        $(cat "$DIR/heap")
        ${KAFKA_JVM_PERFORMANCE_OPTS--XX:+UseSerialGC -XX:TieredStopAtLevel=1}
        -Djava.awt.headless=true
        -Dkafka.logs.dir="$DIR/logs"
        -Dlog4j.configuration="file:$DIR/log4j.properties"
        -cp "$LIBS/*"
    )
}

other_free_port() {
    # A free port that is none of the arguments (ports already chosen).
    local p
    while :; do
        p="$(free_port)"
        case " $* " in *" $p "*) ;; *) echo "$p"; return ;; esac
    done
}

find_python() {
    if [ -n "${KAFKA_PYTHON:-}" ]; then echo "$KAFKA_PYTHON"; return; fi
    if [ -x "$HERE/../../.venv/bin/python" ]; then echo "$HERE/../../.venv/bin/python"; return; fi
    command -v python3 || die "KAFKA_SASL_SSL needs a Python with cryptography (set KAFKA_PYTHON)"
}

secure_listeners() {
    # With KAFKA_SASL_USERS: SASL listeners beside the PLAINTEXT one (controller and inter-broker traffic stay
    # PLAINTEXT on loopback). Sets EXTRA_LISTENERS, EXTRA_ADVERTISED, EXTRA_PROTOCOLS, SECURITY_PROPERTIES,
    # SCRAM_ARGS (users for kafka-storage format), SASL_PORT and SSL_PORT; all empty without it.
    EXTRA_LISTENERS="" EXTRA_ADVERTISED="" EXTRA_PROTOCOLS="" SECURITY_PROPERTIES="" SASL_PORT="" SSL_PORT=""
    SCRAM_ARGS=()
    if [ -z "${KAFKA_SASL_USERS:-}" ]; then
        [ -z "${KAFKA_SASL_SSL:-}" ] || die "KAFKA_SASL_SSL needs KAFKA_SASL_USERS"
        return 0
    fi
    local entry name password mechanism listener names="sasl_plaintext"
    local -a entries
    IFS=',' read -r -a entries <<<"$KAFKA_SASL_USERS"
    for entry in "${entries[@]}"; do
        name="${entry%%:*}" password="${entry#*:}"
        [ -n "$name" ] && [ -n "$password" ] && [ "$name" != "$entry" ] ||
            die "KAFKA_SASL_USERS: expected name:password entries separated by commas"
        for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
            SCRAM_ARGS+=(--add-scram "$mechanism=[name=$name,password=$password]")
        done
    done
    SASL_PORT="$(other_free_port "$PORT" "$CPORT")"
    EXTRA_LISTENERS=",SASL_PLAINTEXT://127.0.0.1:$SASL_PORT"
    EXTRA_PROTOCOLS=",SASL_PLAINTEXT:SASL_PLAINTEXT"
    if [ "${KAFKA_SASL_SSL:-}" = 1 ]; then
        SSL_PORT="$(other_free_port "$PORT" "$CPORT" "$SASL_PORT")"
        EXTRA_LISTENERS="$EXTRA_LISTENERS,SASL_SSL://127.0.0.1:$SSL_PORT"
        EXTRA_PROTOCOLS="$EXTRA_PROTOCOLS,SASL_SSL:SASL_SSL"
        names="sasl_plaintext sasl_ssl"
        "$(find_python)" "$HERE/tls.py" "$DIR/tls" || die "could not make the TLS certificates (deploy/kafka/tls.py)"
        SECURITY_PROPERTIES+="listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$DIR/tls/server.pem
listener.name.sasl_ssl.ssl.client.auth=none
"
    fi
    EXTRA_ADVERTISED="$EXTRA_LISTENERS"
    SECURITY_PROPERTIES+="sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
"
    local jaas="org.apache.kafka.common.security.scram.ScramLoginModule required;"
    for listener in $names; do
        for mechanism in scram-sha-512 scram-sha-256; do
            SECURITY_PROPERTIES+="listener.name.$listener.$mechanism.sasl.jaas.config=$jaas
"
        done
    done
}

launch() {
    # Start the broker prepared in $DIR in the background (pid in $DIR/kafka.pid), with its watchdog; sets BROKER_PID.
    # New session so the broker survives the calling shell and can be signalled as a group.
    setsid "$JAVA" "${JVM_OPTS[@]}" kafka.Kafka "$DIR/server.properties" \
        >"$DIR/logs/kafka.out" 2>&1 </dev/null &
    local pid=$!
    BROKER_PID=$pid
    echo "$pid" >"$DIR/kafka.pid"

    if [ -n "${KAFKA_WATCH_PID:-}" ]; then
        # Watchdog: stop the broker when the watched process (e.g. pytest) goes away.
        (
            trap '' HUP
            for _ in $(seq 1 100); do broker_alive "$pid" && break; sleep 0.1; done  # exec chain done
            while kill -0 "$KAFKA_WATCH_PID" 2>/dev/null && broker_alive "$pid"; do sleep 1; done
            if broker_alive "$pid"; then
                kill -TERM "$pid" 2>/dev/null || true
                for _ in $(seq 1 50); do broker_alive "$pid" || exit 0; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null || true
            fi
        ) >/dev/null 2>&1 </dev/null &
        disown || true
    fi
}

wait_port() {
    # Wait until the broker $BROKER_PID in $DIR opens 127.0.0.1:$PORT; die with its log tail if it does not.
    local pid=$BROKER_PID timeout="${KAFKA_START_TIMEOUT:-60}" waited=0
    while ! port_open "$PORT"; do
        # Until the exec chain (subshell -> setsid -> java) is done, the pid's cmdline is not java's yet:
        # in the first seconds only ask whether the process exists.
        if ! kill -0 "$pid" 2>/dev/null || { [ "$waited" -ge 30 ] && ! broker_alive "$pid"; }; then
            echo "---- tail of $DIR/logs/kafka.out" >&2; tail -n 40 "$DIR/logs/kafka.out" >&2 || true
            echo "---- tail of $DIR/logs/server.log" >&2; tail -n 40 "$DIR/logs/server.log" >&2 || true
            die "broker exited during startup"
        fi
        if [ "$waited" -ge $(( timeout * 10 )) ]; then
            echo "---- tail of $DIR/logs/server.log" >&2; tail -n 40 "$DIR/logs/server.log" >&2 || true
            die "broker did not open 127.0.0.1:$PORT within ${timeout}s (pid $pid still running; see $DIR/logs)"
        fi
        sleep 0.1
        waited=$(( waited + 1 ))
    done
}

cmd_start() {
    prepare "$@"
    launch
    wait_port
    local extra
    for extra in $SASL_PORT $SSL_PORT; do  # opened together with the PLAINTEXT one; give them a moment
        for _ in $(seq 1 100); do port_open "$extra" && break; sleep 0.1; done
        port_open "$extra" || die "broker did not open its SASL port 127.0.0.1:$extra"
    done
    echo "127.0.0.1:$PORT"
}

cmd_cluster() {
    [ $# -ge 1 ] || die "usage: kafka.sh cluster <dir> [brokers]"
    [ -z "${KAFKA_SASL_USERS:-}" ] || die "cluster: KAFKA_SASL_USERS is for single brokers only"
    local brokers="${2:-3}" id taken="" voters="" bootstrap=""
    [ "$brokers" -ge 1 ] 2>/dev/null || die "cluster: the number of brokers must be 1 or more"
    mkdir -p "$1"
    local root
    root="$(cd "$1" && pwd)"
    local -a ports cports pids dirs
    for id in $(seq 1 "$brokers"); do
        ports[id]="$(other_free_port $taken)"; taken="$taken ${ports[id]}"
        cports[id]="$(other_free_port $taken)"; taken="$taken ${cports[id]}"
        voters="${voters:+$voters,}$id@127.0.0.1:${cports[id]}"
        bootstrap="${bootstrap:+$bootstrap,}127.0.0.1:${ports[id]}"
    done
    local member_voters="$voters" member_cluster_id member_replicas=$(( brokers < 3 ? brokers : 3 ))
    local member_min_isr=$(( member_replicas > 1 ? member_replicas - 1 : 1 )) member_id member_cport
    local member_heap="-Xmx256m -Xms64m"
    member_cluster_id="$(random_cluster_id)"
    # Every member is formatted and launched before any is waited for: a broker opens its port once the quorum
    # (a majority of the controllers) is there.
    for id in $(seq 1 "$brokers"); do
        member_id=$id member_cport=${cports[id]}
        prepare "$root/broker-$id" "${ports[id]}"
        launch
        pids[id]=$BROKER_PID dirs[id]=$DIR
    done
    for id in $(seq 1 "$brokers"); do
        BROKER_PID=${pids[id]} DIR=${dirs[id]} PORT=${ports[id]}
        wait_port
    done
    echo "$bootstrap" >"$root/bootstrap"
    echo "$bootstrap"
}

cmd_resume() {
    [ $# -ge 1 ] && [ -f "$1/server.properties" ] || die "usage: kafka.sh resume <dir> (a broker's directory)"
    DIR="$(cd "$1" && pwd)"
    if [ -f "$DIR/kafka.pid" ] && broker_alive "$(cat "$DIR/kafka.pid")"; then
        die "the broker of $DIR is running (pid $(cat "$DIR/kafka.pid"))"
    fi
    PORT="$(sed 's/.*://' "$DIR/bootstrap")"
    JAVA="$(find_java)"
    jvm_opts
    launch
    wait_port
    echo "127.0.0.1:$PORT"
}

# members <dir>: the broker directories of a cluster <dir>, or <dir> itself.
members() {
    local found=0 member
    for member in "$1"/broker-*/; do
        [ -f "$member/server.properties" ] || continue
        found=1
        echo "${member%/}"
    done
    [ "$found" = 1 ] || echo "$1"
}

cmd_run() {
    prepare "$@"
    echo "127.0.0.1:$PORT"
    echo "$$" >"$DIR/kafka.pid"
    exec "$JAVA" "${JVM_OPTS[@]}" kafka.Kafka "$DIR/server.properties"
}

cmd_stop() {
    [ $# -ge 1 ] || die "usage: kafka.sh stop <dir>"
    local member
    # All at once: a cluster's last brokers would wait for a controller quorum that is already gone.
    for member in $(members "$1"); do stop_one "$member" & done
    wait
}

stop_one() {
    local pidfile="$1/kafka.pid" pid grace="${KAFKA_STOP_GRACE:-10}"
    [ -f "$pidfile" ] || { log "no pid file in $1"; return 0; }
    pid="$(cat "$pidfile")"
    if broker_alive "$pid" && kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 $(( grace * 10 ))); do
            broker_alive "$pid" || break
            sleep 0.1
        done
        if broker_alive "$pid"; then
            log "broker $pid still alive after ${grace}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

cmd_status() {
    [ $# -ge 1 ] || die "usage: kafka.sh status <dir>"
    local member
    for member in $(members "$1"); do
        [ -f "$member/kafka.pid" ] && broker_alive "$(cat "$member/kafka.pid")" || return 1
    done
}

case "${1:-}" in
    fetch) shift; cmd_fetch "$@" ;;
    start) shift; cmd_start "$@" ;;
    run) shift; cmd_run "$@" ;;
    cluster) shift; cmd_cluster "$@" ;;
    resume) shift; cmd_resume "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
