"""Values the web process's parts share: Django, gunicorn (conf/gunicorn.conf.py), nginx
(written by `manage.py nginxconf`) and the image's HEALTHCHECK read each from here."""

# Health probes, by Kubernetes' names: liveness (the process answers), readiness (its services do).
LIVENESS = "/healthz"
READINESS = "/readyz"
PROBES = (LIVENESS, READINESS)
