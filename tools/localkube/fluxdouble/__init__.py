"""Test double of the Flux controllers (NOT Flux): source-, helm- and kustomize-controller behaviour for the local
cluster, following the upstream contract of the CRDs in the schema directory (source v1, helm v2, kustomize v1).

What it does, per kind (one process, one watch per kind, one worker):

- every kind: acts when ``metadata.generation`` differs from ``status.observedGeneration``, when the
  ``reconcile.fluxcd.io/requestedAt`` annotation differs from ``status.lastHandledReconcileAt``, or when it never
  reported; writes, on the ``/status`` subresource, ``observedGeneration``, ``lastHandledReconcileAt`` and the
  conditions ``Ready`` / ``Reconciling`` / ``Stalled`` (kstatus style); leaves objects with ``spec.suspend: true``
  alone;
- GitRepository: the URL cannot be fetched here, the artifact is the ``--repo-root`` checkout: revision
  ``<branch>@sha1:<git HEAD of repo-root>``;
- HelmRepository: Ready with a synthetic index artifact (``sha256:`` of the URL); OCIRepository / Bucket:
  Ready with a synthetic revision (``<tag>@sha256:...`` / ``sha256:...``);
- HelmChart (and the ``<hr-namespace>-<hr-name>`` chart the helm-controller creates in the source's namespace for a
  HelmRelease with ``spec.chart``): from a GitRepository, the chart directory in repo-root (version from its
  Chart.yaml, ``+<sha>`` with ``reconcileStrategy: Revision``); from a HelmRepository, the charts whose values
  schema is in ``<schema-dir>/chart-values/<chart>``;
- HelmRelease of a chart from a GitRepository: ``helm template`` with the release's values and the
  ``--api-versions`` the apiserver serves, server-side apply of the result (field manager ``helm-controller``,
  labels ``helm.toolkit.fluxcd.io/name|namespace``), ``status.inventory``, pruning of objects that left the chart;
  Ready once its Deployments are Available and StatefulSets Ready (the kubelet double makes pods Ready), or
  Ready False ``InstallFailed``/``UpgradeFailed`` after ``spec.timeout`` (default 5m); a history entry
  (``status.history[0]``) with chart name/version and the values digest;
- HelmRelease of a chart that cannot be fetched (HelmRepository source): the values (merged over the chart's
  values.yaml) are validated against ``values.schema.json`` (for redis-cluster, which has none, the top-level keys
  must exist in values.yaml); Ready False ``InstallFailed`` with the validation message when they do not fit;
- ``spec.dependsOn``: a HelmRelease / Kustomization is not reconciled (Reconciling True, ``DependencyNotReady``)
  until its dependencies are Ready for their current generation;
- Kustomization: Ready with ``lastAppliedRevision`` = the source's revision when ``spec.path`` exists in the
  artifact (its contents are not applied: in ``apply`` delivery mode the collection applies the objects itself).

Test hooks (annotations, any kind):

- ``test.supertodo.io/fail: "<message>"``: the next request fails: Ready False (``InstallFailed`` for a
  HelmRelease, ``ReconciliationFailed`` otherwise) with that message, the token handled;
- ``test.supertodo.io/stall: "<message>"``: the same with ``Stalled`` True (``RetriesExceeded``);
- ``test.supertodo.io/hang: "true"``: requests are never handled; the status stays as an earlier run left it
  (e.g. Ready True with an older ``lastHandledReconcileAt``: the "stale Ready" case).

Run: ``python -m localkube.fluxdouble --kubeconfig <kc> --state-dir <dir> --repo-root <checkout>
--schema-dir <schemas>`` (``localcluster up`` starts it when this package exists).
"""
