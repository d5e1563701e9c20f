package cluster

import "fmt"

// containerdConfig is containerd 1.6's configuration: everything under dir,
// the CRI plugin with the fixes of the recipe's problem table
// (restrict_oom_score_adj: root here has no CAP_SYS_RESOURCE, so runc cannot
// lower oom_score_adj; cgroupfs, matching the kubelet), the pause image
// imported by hand, and the CNI plugins of cniBin. Keys not named keep
// containerd's defaults.
func containerdConfig(dir, cniBin string) string {
	return fmt.Sprintf(`version = 2
root = "%[1]s/containerd/data"
state = "%[1]s/containerd/state"

[grpc]
  address = "%[1]s/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = %[3]q
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[2]q
    conf_dir = "%[1]s/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "%[1]s/runc"
`, dir, cniBin, PauseImage)
}

// kubeletConfig is the KubeletConfiguration. failCgroupV1: false runs on a
// cgroup v1 host (refused by default since 1.35); cgroupDriver: cgroupfs is
// the fallback kubelet 1.37 still takes when containerd 1.6 has no
// RuntimeConfig RPC; makeIPTablesUtilChains: false writes no iptables
// chains; resolvConf "" gives pods no name servers (nothing outside the
// network namespace to ask); the image GC never removes the imported images.
func kubeletConfig(dir string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[2]s
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[1]s/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: %[1]s/pki/kubelet-serving.crt
tlsPrivateKeyFile: %[1]s/pki/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%[1]s/containerd/containerd.sock
staticPodPath: ""
clusterDomain: cluster.local
resolvConf: ""
podCIDR: %[3]s
maxPods: 50
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
cgroupsPerQOS: true
enforceNodeAllocatable: ["pods"]
podLogsDir: %[1]s/pod-logs
makeIPTablesUtilChains: false
`, dir, NodeIP, PodCIDR)
}

// cniConfig is the pod network: the bridge BridgeName, which the cluster
// creates with NodeIP before containerd starts (the plugin reuses it), and
// host-local addresses from PodCIDR. No masquerade, no port mapping: pods
// reach NodeIP and each other, nothing else.
func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "flyte-admission-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "%s/cni/ipam"
      }
    }
  ]
}
`, BridgeName, PodCIDR, NodeIP, dir)
}
