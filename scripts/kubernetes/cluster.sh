#!/usr/bin/env bash
# A real single-node Kubernetes for the tests (tests/test_kubernetes.py) and for trying the chart by hand, made from
# Debian packages alone (no image registry, no kind/k3s here): kube-apiserver, -controller-manager, -scheduler,
# kubelet and kube-proxy v1.20.2 compiled from Debian bookworm's `kubernetes` source package; Debian's etcd,
# containerd, runc and CNI plugins; the pod sandbox ("pause") image compiled from the same source.
#
#   scripts/kubernetes/cluster.sh build         # once per machine (~10 min on 2 cores); cached in $K8S_DIR/bin
#                                               # with Debian's kubectl 1.20
#   scripts/kubernetes/cluster.sh up            # ~25 s to a Ready node; prints the kubeconfig's path
#   scripts/kubernetes/cluster.sh load IMAGE... # podman images -> containerd (pods use imagePullPolicy IfNotPresent)
#   scripts/kubernetes/cluster.sh down          # stops all of it, by PID; unmounts; deletes netns, bridge, chains
#   scripts/kubernetes/cluster.sh leftovers     # prints whatever of a cluster is still here (empty: nothing)
#
# Needs root. The control plane and kubelet listen on 127.0.0.1 only; pods get addresses on the bridge $BRIDGE
# ($POD_CIDR), Services $SVC_CIDR: nothing else is ever a target. No cluster DNS (CoreDNS is on no registry reachable
# here): the chart's `hostNetwork` mode puts our pods on the node's loopback instead.
set -euo pipefail
K8S_DIR=${K8S_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gwtm-k8s}
BIN=$K8S_DIR/bin
RUN=$K8S_DIR/run
BRIDGE=${BRIDGE:-gwtmk8s0}
POD_CIDR=${POD_CIDR:-10.244.0.0/24}
SVC_CIDR=${SVC_CIDR:-10.0.0.0/24}
K8S_SOURCE='kubernetes=1.20.5+really1.20.2-1.1+deb12u1'
PAUSE=localhost/pause:v1.20.2
CTR=(ctr -a "$RUN/containerd/containerd.sock" -n k8s.io)
export KUBECONFIG=$RUN/admin.kubeconfig
kubectl() { "$BIN/kubectl" "$@"; }

log() { echo "cluster.sh: $*" >&2; }

debian_source() {  # apt-get source with a private sources list (deb-src of the machine's mirror); nothing else touched
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
  [ -n "$mirror" ] || { log "no Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"; return 1; }
  mkdir -p "$K8S_DIR/apt/lists/partial" "$K8S_DIR/apt/cache/archives/partial"
  printf 'deb-src %s bookworm main\n' "$mirror" >"$K8S_DIR/apt/sources.list"
  local opts=(-o Dir::Etc::SourceList="$K8S_DIR/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$K8S_DIR/apt/lists" -o Dir::Cache="$K8S_DIR/apt/cache" -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq
  apt-get "${opts[@]}" source --download-only -qq "$K8S_SOURCE"
}

build() {
  local packages=(golang-go rsync gcc libc6-dev containerd runc containernetworking-plugins etcd-server etcd-client
    iptables conntrack podman openssl)
  local missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  mkdir -p "$BIN" "$K8S_DIR/img/pause"
  if [ ! -x "$BIN/kubelet" ] || [ ! -x "$BIN/kube-proxy" ]; then
    log "compiling Kubernetes v1.20.2 from Debian's source (~10 min)"
    rm -rf "$K8S_DIR/src" && mkdir -p "$K8S_DIR/src" && cd "$K8S_DIR/src"
    debian_source
    tar xzf kubernetes_*.orig.tar.gz && cd kubernetes-1.20.2
    export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean \
      KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56 CGO_ENABLED=0 HOME=$K8S_DIR/src/home
    make gen_openapi >/dev/null  # the one generated file the source package lacks
    hack/make-rules/build.sh cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet \
      cmd/kube-proxy >/dev/null
    cp build/pause/linux/pause.c "$K8S_DIR/img/pause/"
    cp _output/local/bin/linux/amd64/kube-* _output/local/bin/linux/amd64/kubelet "$BIN/"
    cd "$K8S_DIR" && rm -rf "$K8S_DIR/src"  # 1.9 GB with Go's cache
  fi
  if [ ! -x "$BIN/kubectl" ]; then  # Debian's kubectl of the same version, unpacked, not installed
    local deb
    deb=$(mktemp -d)
    (cd "$deb" && apt-get download -qq kubernetes-client && dpkg-deb -x kubernetes-client_*.deb root)
    cp "$deb/root/usr/bin/kubectl" "$BIN/kubectl" && rm -rf "$deb"
  fi
  if ! podman image exists "$PAUSE"; then
    cd "$K8S_DIR/img/pause"
    gcc -Os -static -DVERSION=v1.20.2 -o pause pause.c && strip pause
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >Containerfile
    podman build -q --format docker -t "$PAUSE" . >/dev/null
  fi
  log "built: $BIN"
}

pki() {
  mkdir -p "$RUN/pki" && cd "$RUN/pki"
  cat >openssl.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[server]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
[client]
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
CNF
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -key ca.key -subj /CN=gwtm-k8s-ca -days 7 -config openssl.cnf -extensions ca -out ca.crt
  local name subj ext
  for spec in "apiserver|/CN=kube-apiserver|server" "admin|/O=system:masters/CN=admin|client"; do
    IFS='|' read -r name subj ext <<<"$spec"
    openssl genrsa -out "$name.key" 2048 2>/dev/null
    openssl req -new -key "$name.key" -subj "$subj" -config openssl.cnf -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile openssl.cnf \
      -extensions "$ext" -out "$name.crt" 2>/dev/null
  done
  openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  cat >"$KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:6443", certificate-authority: $RUN/pki/ca.crt}}]
users: [{name: admin, user: {client-certificate: $RUN/pki/admin.crt, client-key: $RUN/pki/admin.key}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
KC
}

start() {  # start NAME COMMAND...: in the background, PID in $RUN/NAME.pid, output in $RUN/logs/NAME.log
  local name=$1
  shift
  nohup "$@" >"$RUN/logs/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local n=$1 what=$2
  shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  log "$what did not come up in $n s (logs: $RUN/logs)"
  return 1
}

up() {
  [ -x "$BIN/kubelet" ] || { log "not built: run '$0 build' first"; return 1; }
  rm -rf "$RUN" && mkdir -p "$RUN/logs" "$RUN/cni/net.d" "$RUN/static-pods"
  pki
  local P=$RUN/pki
  # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so runc cannot give the sandbox its oom_score_adj of
  # -998 and every pod sandbox fails ("can't get final child's PID from pipe: EOF") without it.
  cat >"$RUN/containerd.toml" <<TOML
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$RUN/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
TOML
  # A bridge of our own: a loopback-only CNI config marks the node Ready but every ordinary pod then fails.
  cat >"$RUN/cni/net.d/10-bridge.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "gwtm-k8s", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "dataDir": "$RUN/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CNI
  start containerd containerd --config "$RUN/containerd.toml"
  wait_for 30 containerd "${CTR[@]}" version
  podman save --format docker-archive "$PAUSE" | "${CTR[@]}" images import - >/dev/null
  start etcd etcd --name gwtm-k8s --data-dir "$RUN/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster gwtm-k8s=http://127.0.0.1:2380 \
    --listen-metrics-urls http://127.0.0.1:2381
  wait_for 30 etcd env ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 endpoint health
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=127.0.0.1 \
    --secure-port=6443 --advertise-address=127.0.0.1 --service-cluster-ip-range="$SVC_CIDR" \
    --client-ca-file="$P/ca.crt" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --authorization-mode=Node,RBAC \
    --allow-privileged=true --kubelet-client-certificate="$P/admin.crt" --kubelet-client-key="$P/admin.key" \
    --kubelet-preferred-address-types=InternalIP --profiling=false
  wait_for 60 kube-apiserver kubectl get --raw /readyz
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 \
    --leader-elect=false --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --use-service-account-credentials=true --cluster-signing-cert-file="$P/ca.crt" \
    --cluster-signing-key-file="$P/ca.key" --profiling=false
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 \
    --leader-elect=false --profiling=false
  cat >"$RUN/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failSwapOn: false
clusterDomain: cluster.local
staticPodPath: $RUN/static-pods
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
KUBELET
  # --hostname-override=127.0.0.1: the node's InternalIP is loopback, where the apiserver reaches the kubelet.
  start kubelet "$BIN/kubelet" --config="$RUN/kubelet.yaml" --kubeconfig="$KUBECONFIG" --hostname-override=127.0.0.1 \
    --container-runtime=remote --container-runtime-endpoint="unix://$RUN/containerd/containerd.sock" \
    --root-dir="$RUN/kubelet" --cert-dir="$RUN/kubelet/pki" --pod-infra-container-image="$PAUSE"
  start kube-proxy "$BIN/kube-proxy" --kubeconfig="$KUBECONFIG" --hostname-override=127.0.0.1 \
    --bind-address=127.0.0.1 --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256 \
    --proxy-mode=iptables --cluster-cidr="$POD_CIDR" --conntrack-max-per-core=0 --profiling=false
  wait_for 120 "the node" kubectl wait --for=condition=Ready node/127.0.0.1 --timeout=1s
  echo "$KUBECONFIG"
}

load() {
  local image
  for image in "$@"; do podman save --format docker-archive "$image" | "${CTR[@]}" images import - >/dev/null; done
}

stop_pid() {  # TERM by the recorded PID, KILL after 20 s
  local f=$RUN/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$f"
}

down() {
  [ -d "$RUN" ] || return 0
  if [ -f "$RUN/kubelet.pid" ]; then  # the kubelet stops every pod first
    kubectl delete --all-namespaces --all deployments,replicasets,statefulsets,daemonsets,jobs --wait=false \
      >/dev/null 2>&1 || true
    kubectl delete --all-namespaces --all pods --grace-period=5 --timeout=90s >/dev/null 2>&1 || true
  fi
  stop_pid kube-proxy
  "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  stop_pid kubelet
  # containerd's shims outlive containerd: note each task's shim, kill and delete the tasks, then any shim left.
  local task pid file shims=""
  for file in "$RUN"/containerd/state/io.containerd.runtime.v2.task/*/*/init.pid; do  # no newline: one at a time
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    shims="$shims $(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  done
  for task in $("${CTR[@]}" tasks ls -q 2>/dev/null); do
    "${CTR[@]}" tasks kill -s KILL "$task" >/dev/null 2>&1 || true
    sleep 1
    "${CTR[@]}" tasks delete "$task" >/dev/null 2>&1 || true
  done
  for pid in $shims; do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = containerd-shim ] && kill "$pid" 2>/dev/null || true
  done
  stop_pid kube-scheduler
  stop_pid kube-controller-manager
  stop_pid kube-apiserver
  stop_pid etcd
  stop_pid containerd
  grep -o " $RUN[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  grep -o " /run/containerd/io.containerd[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
  ip link delete "$BRIDGE" 2>/dev/null || true
  # The kubelet's own chains (kube-proxy --cleanup leaves them), then every KUBE-* chain, and the empty pod cgroups.
  iptables -t filter -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
  iptables -t filter -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
  local table chain h
  for table in filter nat mangle; do
    for chain in $(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[A-Z0-9-]*\) .*/\1/p'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables-save -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[A-Z0-9-]*\) .*/\1/p'); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
  for h in /sys/fs/cgroup/*/kubepods; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  rm -rf "$RUN"
}

leftovers() {  # what a cluster left behind: processes, mounts, network namespaces, the bridge, iptables chains
  local names="kube-apiserver|kube-controller|kube-scheduler|kubelet|kube-proxy|etcd|containerd"
  ps -eo pid=,comm= | awk -v re="^($names)" '$2 ~ re {print "process " $1 " " $2}'
  grep -E " ($K8S_DIR|/run/containerd/io.containerd)" /proc/mounts | awk '{print "mount " $2}' || true
  ip netns list 2>/dev/null | awk '/^cni-/ {print "netns " $1}'
  ip link show "$BRIDGE" >/dev/null 2>&1 && echo "bridge $BRIDGE"
  iptables-save 2>/dev/null | sed -n 's/^:\(KUBE-[A-Z0-9-]*\) .*/iptables chain \1/p'
  true
}

"$@"
