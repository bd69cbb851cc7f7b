"""An AWX API double: the part of AWX's REST API (``/api/v2/``) that ``awx/configure.yml`` and the promotion
workflow use, served on loopback, with jobs that really run their playbooks through ansible-runner.

AWX needs containers and cannot run here; this is the closest real thing for the tests of ``awx/``. It follows the
AWX 24.6.1 API as the ``awx.awx`` collection of the ``ansible`` package calls it
(``plugins/module_utils/controller_api.py`` and the modules ``organization``, ``project``, ``credential``,
``inventory``, ``inventory_source``, ``job_template``, ``workflow_job_template``, ``workflow_job_template_node``).

What it answers (all under ``/api/v2/``, JSON in and out):

* ``ping/`` (no authentication), ``config/``, ``me/``. Every answer carries the headers ``X-API-Product-Name: AWX``
  and ``X-API-Product-Version: 24.6.1`` that ``controller_api.py`` compares with the collection's version.
* Authentication: ``Authorization: Bearer <token>`` (the ``controller_oauthtoken`` of the modules); anything else
  is 401.
* Lists of ``organizations``, ``projects``, ``project_updates``, ``credential_types``, ``credentials``,
  ``inventories``, ``inventory_sources``, ``execution_environments``, ``job_templates``,
  ``workflow_job_templates``, ``workflow_job_template_nodes``, ``workflow_approval_templates``,
  ``unified_job_templates``, ``jobs``, ``workflow_jobs``, ``workflow_job_nodes``, ``workflow_approvals``: the
  paginated shape ``{count, next, previous, results}`` (``page``, ``page_size``, default 25), filtered by exact
  field values (``?name=``, ``?organization=``, ``?identifier=&workflow_job_template=``...) and by the
  ``or__id``/``or__name`` pair ``get_one`` sends for a name that looks like a number. A filter on a field the
  object does not have is a 400, as in AWX.
* Create (POST to the list, 201), read, PATCH/PUT (200) and DELETE (204) of the configurable objects; the
  read-only lists (credential types, jobs, updates, approvals, unified job templates) answer 405 to a write.
* Refusals, with AWX's status codes and its error shape: a field the object does not have, a missing required
  field, a reference to an object that does not exist (``Invalid pk "9" - object does not exist.``), a wrong choice,
  a duplicate name in the same organization (400 with ``{field: [message]}`` or ``__all__``); a credential
  input the credential type does not define or a missing required input (400 ``inputs``); a job template playbook
  that is not in the project's checkout (400 ``playbook``); two credentials of one type on a job template; a
  workflow link to a node of another workflow or one that makes a cycle; an unknown path (404); a method the
  endpoint does not have (405).
* Secrets: the credential inputs the credential type marks ``secret`` are stored and answered as
  ``$encrypted$``, as AWX does; a PATCH that sends ``$encrypted$`` back keeps the stored value.
* Sub-resources: ``projects/N/update/`` (a project update: ``git clone``/fetch of ``scm_url`` at ``scm_branch``
  into the state directory, with ``scm_revision``), ``job_templates/N/credentials/`` (associate ``{id}``,
  disassociate ``{id, disassociate: true}``, 204), ``job_templates/N/survey_spec/`` and
  ``workflow_job_templates/N/survey_spec/`` (GET/POST/DELETE, AWX's survey validation), ``.../launch/``,
  ``workflow_job_templates/N/workflow_nodes/``, ``workflow_job_template_nodes/N/success_nodes/`` /
  ``failure_nodes/`` / ``always_nodes/``, ``workflow_job_template_nodes/N/create_approval_template/``,
  ``jobs/N/stdout/?format=txt``, ``workflow_jobs/N/workflow_nodes/``, ``workflow_approvals/N/approve/`` and
  ``deny/``.

Jobs: launching a job template (``launch/`` with ``extra_vars``, and ``inventory`` when the template asks for it
on launch) checks the survey's required answers (400 ``variables_needed_to_start``), syncs the project when it
updates on launch, copies the checkout into the job's private data directory and runs ``ansible-runner run`` on
it, as AWX does: the template's playbook, the inventory source path of the template's (or the prompted)
inventory, the extra vars (template ``extra_vars``, then workflow and launch values, then ``awx_job_id``,
``tower_job_id``, ``awx_job_template_name``, ``awx_workflow_job_id``... that AWX adds), and the credentials
injected the way AWX injects them: the *OpenShift or Kubernetes API Bearer Token* credential as ``K8S_AUTH_HOST``,
``K8S_AUTH_API_KEY``, ``K8S_AUTH_VERIFY_SSL`` and ``K8S_AUTH_SSL_CA_CERT`` (a file in the private data
directory), the *Vault* credential as the answer to ``--ask-vault-pass`` (``--vault-id <id>@prompt`` with a vault
id). The job's environment is only that: the task environment given to the double (the stand-in for the
execution environment and AWX's ``AWX_TASK_ENV`` setting), ``HOME``, and the injected variables; nothing of the
double's own environment leaks in. A workflow job runs its nodes in graph order (success/failure/always links),
stops at an approval node until ``approve/``, ``deny/`` or the approval template's ``timeout`` (then the node
fails, ``timed_out: true``), marks the nodes that were not reached ``do_not_run``, and fails when a node failed
that has no failure or always link, as AWX decides it. Each job keeps its status, return code and stdout.

What it does not do (AWX does): users, teams, roles and RBAC (one token is the admin); OAuth2 token endpoints and
session login; organisations' galaxy credentials, instance groups, labels, notifications, schedules, webhooks;
custom credential types and credential input sources (only the managed types below, GET only); other inventory
source types than ``scm``, and the inventory import (the job reads the inventory directory of the checkout
directly instead of the hosts and variables AWX would have imported into its database); execution environments
as containers (jobs run with the Python and tools of the task environment); ``collections/requirements.yml`` and
``roles/requirements.yml`` installation during the project sync; job slicing, forks, limits, tags and other
prompts on launch except ``extra_vars`` and ``inventory``; parallel branches (nodes that are ready run one after
another); ``all_parents_must_converge``; job events, activity stream, cancel and relaunch; persistence (all state
is in memory; the checkouts and job directories are files in the state directory).
"""

PRODUCT_NAME = "AWX"
PRODUCT_VERSION = "24.6.1"
