# -*- coding: utf-8 -*-
# Copyright: supertodo.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 connection options shared by the backup modules (argument spec: module_utils/backup/s3.py S3_ARG_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  endpoint_url:
    description:
      - S3 endpoint URL; defaults to E(AWS_ENDPOINT_URL_S3), then E(AWS_ENDPOINT_URL), then AWS.
    type: str
    aliases: [aws_endpoint_url, s3_url]
  aws_access_key:
    description:
      - S3 access key; defaults to E(AWS_ACCESS_KEY_ID), then E(AWS_ACCESS_KEY).
    type: str
    aliases: [access_key, aws_access_key_id]
  aws_secret_key:
    description:
      - S3 secret key; defaults to E(AWS_SECRET_ACCESS_KEY), then E(AWS_SECRET_KEY).
    type: str
    aliases: [secret_key, aws_secret_access_key]
  session_token:
    description:
      - S3 session token; defaults to E(AWS_SESSION_TOKEN).
    type: str
    aliases: [aws_session_token]
  region:
    description:
      - S3 region; defaults to E(AWS_REGION), then E(AWS_DEFAULT_REGION), then C(us-east-1).
    type: str
    aliases: [aws_region]
  validate_certs:
    description:
      - Verify the S3 endpoint's TLS certificate.
    type: bool
    default: true
  connect_timeout:
    description:
      - Seconds to wait for a connection to the S3 endpoint. Must be positive.
      - A request whose connection timed out is not repeated; the task fails naming the endpoint and this option.
    type: float
    default: 10.0
  read_timeout:
    description:
      - Seconds to wait for the S3 endpoint to answer a request (and for each further read of a response). Must be
        positive.
      - A request that timed out is not repeated, so an endpoint that accepts connections and never answers fails
        the task after about O(read_timeout), naming the endpoint and this option. A refused connection or a
        transient server error (5xx, throttling) is tried up to three times.
    type: float
    default: 30.0
    version_added: 0.1.0
"""
