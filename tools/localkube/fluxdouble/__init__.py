"""Test double of the Flux controllers (NOT Flux): source-, kustomize- and helm-controller behaviour for the local
cluster, following the upstream contract of the CRDs in the schema directory (source v1, kustomize v1, helm v2)
and the controllers' code (fluxcd/source-controller ``internal/controller/gitrepository_controller.go``,
fluxcd/pkg ``git/git.go``, fluxcd/kustomize-controller ``internal/controller/kustomization_controller.go``,
fluxcd/pkg ``kustomize`` (generator) and ``ssa``, fluxcd/helm-controller).

One process, one watch per kind, one worker (``controller.py``); each kind's reconcile in its own module
(``repositories.py``, ``helmchart.py``, ``kustomization.py``, ``helmrelease.py``; what they share: ``common.py``);
its own small REST client (``kube.py`` on ``localkube.rest``). Git sources are fetched for real with the ``git`` CLI
(the local cluster runs ``git http-backend`` on loopback); manifests are built with real kustomize (``kubectl
kustomize``) and charts rendered with real ``helm``. Files live under ``<state-dir>/fluxdouble/`` (``mirrors/``: a
bare mirror per GitRepository; ``artifacts/``: the artifacts).

Every kind:

- acts when ``metadata.generation`` differs from ``status.observedGeneration``, when the
  ``reconcile.fluxcd.io/requestedAt`` annotation differs from ``status.lastHandledReconcileAt`` (then writes that
  token to ``lastHandledReconcileAt``: how ``flux reconcile`` knows its request was handled), when it never reported,
  or when its source's artifact revision moved; writes ``observedGeneration`` and the kstatus conditions ``Ready`` /
  ``Reconciling`` / ``Stalled`` on the ``/status`` subresource; leaves objects with ``spec.suspend: true`` alone;
- GitRepository and Kustomization run again every ``spec.interval`` (source-controller polls, kustomize-controller
  re-applies); HelmReleases act on change and on request only.

GitRepository (source-controller):

- fetches ``spec.url`` (``http(s)://``; no credentials: ``secretRef`` is not read) into a bare mirror and resolves
  ``spec.ref``: ``name`` (a full reference), ``tag``, ``branch``, ``commit`` (alone, or with a branch it must be on);
  no ref means branch ``master``, as upstream. ``semver`` is refused (Ready False);
- revision as fluxcd/pkg ``git.Commit.String()``: ``<branch>@sha1:<commit>``, ``<tag>@sha1:<commit>``, or
  ``sha1:<commit>`` for a bare commit;
- the artifact is that commit: a gzipped tar of its tree (``git archive``, no ``.git``) at
  ``gitrepository/<ns>/<name>/<commit>.tar.gz``, ``digest`` ``sha256:`` of the file (stable for a commit), the two
  newest kept (``--artifact-retention-records=2``); message ``stored artifact for revision '<revision>'``;
- failure: Ready False ``GitOperationFailed``, ``failed to checkout and determine revision: unable to clone
  '<url>': <git's error>`` (e.g. ``couldn't find remote ref "refs/heads/x"``);
- not done: ``.sourceignore`` / ``spec.ignore``, ``include``, ``verify`` (signatures), ``recurseSubmodules``,
  ``sparseCheckout``, proxies, SSH, the artifact HTTP server (``status.artifact.url`` names one that does not exist:
  the double's consumers read the file).

Kustomization (kustomize-controller ``reconcile``):

- source (GitRepository, OCIRepository, Bucket) missing: Ready False ``ArtifactFailed``, ``Source '<Kind>/<ns>/<name>'
  not found``; no artifact yet: ``Source artifact not found, retrying in 5s``;
- ``spec.dependsOn`` (checkDependencies): each dependency must exist, have observed its generation, be Ready, and, when
  it uses the same source, have applied the source's current revision; otherwise Ready False ``DependencyNotReady``
  (``dependency '<ns>/<name>' is not ready`` / ``not found`` / ``revision is not up to date``) and nothing is built
  or applied; retried every 5 s (upstream ``--requeue-dependency`` is 30 s) and whenever a dependency changes;
- unpacks the artifact (digest checked) into a temporary folder; ``spec.path`` missing: Ready False
  ``ArtifactFailed`` ``kustomization path not found: ...``;
- a ``kustomization.yaml`` is generated when the folder has none (the fluxcd/pkg generator: every manifest file
  below it, a sub-folder with its own kustomization file as one entry) and ``targetNamespace``, ``namePrefix``,
  ``nameSuffix``, ``patches``, ``images``, ``components`` of the spec are written into it; ``kubectl kustomize``
  builds it (``--load-restrictor LoadRestrictionsNone``; upstream confines file loads to the artifact root);
  failure: ``BuildFailed`` ``kustomize build failed: ...``;
- server-side apply of every object, CRDs and Namespaces first, then class-like cluster objects, then the rest
  (fluxcd/pkg/ssa ``ApplyAllStaged``), field manager ``kustomize-controller``, ownership forced as upstream,
  labels ``kustomize.toolkit.fluxcd.io/name`` / ``namespace``; objects annotated
  ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` or ``ssa: Ignore`` are skipped, ``ssa: IfNotPresent`` ones are
  only created; a namespaced object without a namespace (and no ``targetNamespace``) is refused; apply error: Ready
  False ``ReconciliationFailed`` naming ``<Kind>/<ns>/<name>``;
- **stricter than Flux**: before anything is applied, an object whose live owner labels name another Kustomization
  that still lists it in its ``status.inventory`` fails the reconcile (``ReconciliationFailed``: ``<Kind>/<ns>/<name>
  is already managed by Kustomization <ns>/<a>; Kustomization <ns>/<b> also applies it``). The real
  kustomize-controller takes such an object over silently (all Kustomizations share one field manager;
  fluxcd/kustomize-controller#732 was declined, #1724 asks for a warning event): the double fails so that the
  tests catch "two owners of one object". Once the first Kustomization no longer lists it, the object moves;
- ``status.inventory.entries``: ``{"id": "<namespace>_<name>_<group>_<kind>", "v": "<version>"}`` in apply order;
- ``spec.prune: true``: objects of the previous inventory that left the build are deleted (background
  propagation) when their owner labels still name this Kustomization and they are not annotated
  ``kustomize.toolkit.fluxcd.io/prune: disabled``; failure: ``PruneFailed``;
- health (``spec.wait: true``: every applied object; else ``spec.healthChecks``) with ``spec.timeout`` (default the
  interval): kstatus-like: Deployment available / StatefulSet ready for the current generation, an object with a
  Ready condition Ready for its generation; one whose Ready is False (not progressing) or Stalled True fails at once
  (``health check failed after <t>: failed early due to stalled resources: [HelmRelease/<ns>/<name> status:
  'Failed']``), else ``timeout waiting for: [...]`` after the timeout; Ready Unknown ``Progressing`` meanwhile;
- success: ``lastAppliedRevision`` = ``lastAttemptedRevision`` = the source revision, Ready True
  ``ReconciliationSucceeded`` ``Applied revision: <revision>``; on failure ``lastAttemptedRevision`` moves and
  ``lastAppliedRevision`` keeps the last good one;
- not done: ``postBuild`` substitutions, SOPS ``decryption``, ``serviceAccountName`` impersonation,
  ``kubeConfig`` (remote clusters), ``force`` (recreate on immutable-field errors), drift-ignore rules, CEL
  ``healthCheckExprs`` / ``readyExpr``, deletion policies and the finalizer (deleting a Kustomization deletes
  nothing), events, ``status.history``.

HelmRepository / OCIRepository / Bucket: Ready with a synthetic artifact (no download): HelmRepository ``sha256:``
of the URL, OCIRepository ``<tag>@sha256:...``, Bucket ``sha256:...``.

HelmChart (and the ``<hr-namespace>-<hr-name>`` chart that helm-controller creates in the source's namespace for a
HelmRelease with ``spec.chart``):

- from a GitRepository: the chart folder ``spec.chart`` of the source's artifact (the fetched commit, never this
  checkout), packaged with ``helm package`` into the HelmChart's artifact ``helmchart/<ns>/<name>/<chart>-<version>.tgz``;
  version from its Chart.yaml, ``<version>+<first 12 of the commit>`` with ``reconcileStrategy: Revision``;
  ``observedSourceArtifactRevision`` is the Git revision; chart folder missing: ``ChartPackageFailed``;
- from a HelmRepository: the charts whose values schema is in ``<schema-dir>/chart-values/<chart>`` (no download).

HelmRelease:

- chart from a GitRepository: ``helm template`` of the HelmChart's artifact with the release's values and the
  ``--api-versions`` the apiserver serves (the chart's ``values.schema.json`` is enforced by helm), server-side apply
  of the result (field manager ``helm-controller``, labels ``helm.toolkit.fluxcd.io/name|namespace``),
  ``status.inventory``, pruning of objects that left the chart; Ready once its Deployments are Available and
  StatefulSets Ready (the kubelet double makes pods Ready), or Ready False ``InstallFailed`` / ``UpgradeFailed``
  after ``spec.timeout`` (default 5m); refused values or a failed render: ``InstallFailed`` / ``UpgradeFailed``
  naming the release, chart and reason, nothing applied (the previous release keeps running); a history entry
  (``status.history[0]``) with chart name/version and the values digest; a new chart version (a new commit with
  ``reconcileStrategy: Revision``) or new values upgrade it;
- chart from a HelmRepository (cannot be fetched here): the values (merged over the chart's values.yaml) are validated
  against ``values.schema.json`` (for redis-cluster, which has none, the top-level keys must exist in values.yaml);
  Ready False ``InstallFailed`` with the validation message when they do not fit; nothing is installed;
- ``spec.dependsOn``: not reconciled (Ready Unknown ``DependencyNotReady``) until its dependencies are Ready for their
  current generation;
- not done: hooks, tests, rollback/uninstall remediation, drift detection, ``valuesFrom``, post-renderers, Helm's
  release Secrets (``helm list`` shows nothing), CRD upgrade policies.

Test hooks (annotations, any kind):

- ``test.supertodo.io/fail: "<message>"``: the next request fails: Ready False (``InstallFailed`` for a
  HelmRelease, ``ReconciliationFailed`` otherwise) with that message, the token handled;
- ``test.supertodo.io/stall: "<message>"``: the same with ``Stalled`` True (``RetriesExceeded``);
- ``test.supertodo.io/hang: "true"``: requests are never handled; the status stays as an earlier run left it
  (e.g. Ready True with an older ``lastHandledReconcileAt``: the "stale Ready" case).

Run: ``python -m localkube.fluxdouble --kubeconfig <kc> --state-dir <dir> --schema-dir <schemas>``
(``localcluster up`` starts it; ``--repo-root`` is accepted and ignored).
"""
