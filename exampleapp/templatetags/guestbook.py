"""
The dates of guestbook entries, as Django's |date filter writes them with the same formats, for
a fraction of its cost: |date looks its format up among the locale's formats, then parses it,
character by character, on every call, and a page of entries formats twenty dates.

Both filters take the value in the current time zone (expects_localtime, as |date does) and
write what the named format characters write (django/utils/dateformat.py: DateFormat.c, j, M, Y,
H, i), month names translated alike; exampleapp/tests/test_page_cache.py compares them with |date.
"""

from django import template
from django.utils.dates import MONTHS_3

register = template.Library()


@register.filter(expects_localtime=True)
def iso_datetime(value):
    """{{ value|date:"c" }}: ISO 8601, e.g. 2026-11-07T09:05:03.123456+01:00."""
    return value.isoformat()


@register.filter(expects_localtime=True)
def day_month_year_time(value):
    """{{ value|date:"j M Y, H:i" }}, e.g. 7 Nov 2026, 09:05."""
    return f"{value.day} {MONTHS_3[value.month].title()} {value.year:04d}, {value.hour:02d}:{value.minute:02d}"
