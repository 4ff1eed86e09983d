"""
Content-Security-Policy for Django 5.2, which has no CSP support of its own: SECURE_CSP is
Django 6.0's setting (a dict of directives), sent as 6.0's django.middleware.csp.
ContentSecurityPolicyMiddleware sends it (django/utils/csp.py, build_policy), without nonces.
On Django 6.0, put that middleware in MIDDLEWARE instead and delete build_policy and the class.
"""

import re

from django.conf import settings

# Keywords that mean something only in single quotes: unquoted, `self` is a host named self.
KEYWORDS = {"self", "none", "unsafe-inline", "unsafe-eval", "unsafe-hashes", "strict-dynamic", "report-sample"}


def directives(env, name, text):
    """{directive: [sources]} from a policy written as the header is: "img-src 'self' data:; ..."
    (a directive without sources, such as upgrade-insecure-requests, becomes True)."""
    policy = {}
    for directive, *sources in (part.split() for part in text.split(";") if part.strip()):
        if not re.fullmatch(r"[a-z]+(-[a-z]+)*", directive):
            env.problem(
                name, f"{directive!r} is not a CSP directive; write e.g. img-src 'self' https://cdn.example.com"
            )
        elif bare := [source for source in sources if source.lower() in KEYWORDS]:
            env.problem(
                name, f"write {', '.join(bare)} in single quotes ({directive} '{bare[0]}'); unquoted, it names a host"
            )
        else:
            policy[directive] = sources or True
    return policy


def build_policy(config):
    """The header for a SECURE_CSP dict, as Django 6.0's build_policy writes it, nonces aside."""
    policy = []
    for directive, values in config.items():
        if values is True:  # a directive without sources, e.g. upgrade-insecure-requests
            policy.append(directive)
        elif values not in (None, False):
            if isinstance(values, set):
                values = sorted(values)
            elif isinstance(values, str):
                values = [values]
            if values:
                policy.append(f"{directive} {' '.join(values)}")
    return "; ".join(policy)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.header = build_policy(settings.SECURE_CSP)

    def __call__(self, request):
        response = self.get_response(request)
        # As in 6.0: a header the view set is kept, and an empty SECURE_CSP sends none.
        if self.header and "Content-Security-Policy" not in response:
            response.headers["Content-Security-Policy"] = self.header
        return response
