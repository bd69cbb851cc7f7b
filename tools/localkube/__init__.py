"""The project's local Kubernetes control plane (``tools/localcluster``).

Real kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2 (built once from Debian's source
package) and etcd, on loopback; plus test doubles of what cannot run here: a kubelet double
(:mod:`localkube.kubelet`) and, when present, a Flux controller double (``localkube.fluxdouble``).
"""

KUBE_VERSION = "v1.20.2"


class LocalClusterError(RuntimeError):
    """A clear, user-facing failure of the local cluster tooling (printed as one message, no traceback)."""
