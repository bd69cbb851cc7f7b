# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A NetworkPolicy evaluator (networking.k8s.io/v1 semantics) for the tests: is a flow allowed?

There is no CNI on the local cluster to enforce policies, so the tests evaluate the policies the cluster stores
(or the rendered tree holds) with the rules of the Kubernetes API: a pod selected by no policy of a type is
open in that direction; a selected pod admits only what some rule of a selecting policy allows; a flow needs
both the source's egress and the destination's ingress.
"""

from __future__ import annotations

import ipaddress


class Pod:
    def __init__(self, namespace, labels, ip="10.0.0.1"):
        self.namespace = namespace
        self.labels = dict(labels)
        self.ip = ip


class External:
    """A destination outside the cluster (only ipBlock peers match it)."""

    namespace = None
    labels = {}

    def __init__(self, ip):
        self.ip = ip


def _match_labels(selector, labels):
    if selector is None:
        return False
    for key, val in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != val:
            return False
    for expr in selector.get("matchExpressions") or []:
        has, val = expr["key"] in labels, labels.get(expr["key"])
        op = expr["operator"]
        if (op == "In" and val not in expr["values"]) or (op == "NotIn" and has and val in expr["values"]) \
                or (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


def _peer_matches(peer, policy_ns, other, namespaces):
    if "ipBlock" in peer:
        if other.namespace is not None:
            return False
        net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        addr = ipaddress.ip_address(other.ip)
        return addr in net and not any(addr in ipaddress.ip_network(e) for e in peer["ipBlock"].get("except", []))
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _match_labels(peer["namespaceSelector"], namespaces.get(other.namespace, {})):
            return False
    elif other.namespace != policy_ns:
        return False
    if "podSelector" in peer:
        return _match_labels(peer["podSelector"], other.labels)
    return True


def _port_matches(ports, port, protocol):
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") == protocol and ("port" not in p or p["port"] == port
                                                     or (p.get("endPort") and p["port"] <= port <= p["endPort"])):
            return True
    return False


def _direction_allows(policies, pod, other, port, protocol, namespaces, direction):
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if p["metadata"]["namespace"] == pod.namespace
                 and direction in p["spec"].get("policyTypes", ["Ingress"])
                 and _match_labels(p["spec"]["podSelector"], pod.labels)]
    if not selecting:
        return True
    for pol in selecting:
        for rule in pol["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(pe, pol["metadata"]["namespace"], other, namespaces) for pe in peers)) \
                    and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(policies, src, dst, port, protocol="TCP", namespaces=None):
    """True when ``src`` may open ``dst:port`` under ``policies`` (a list of NetworkPolicy dicts)."""
    namespaces = namespaces or {}
    egress = src.namespace is None or _direction_allows(policies, src, dst, port, protocol, namespaces, "Egress")
    ingress = dst.namespace is None or _direction_allows(policies, dst, src, port, protocol, namespaces, "Ingress")
    return egress and ingress
