"""Pagination and search of the API's lists (named in settings.REST_FRAMEWORK).

Kept apart from :mod:`api.views` because DRF reads these settings while its generic views are
being imported.
"""

from rest_framework.filters import SearchFilter
from rest_framework.pagination import PageNumberPagination


class SafeSearchFilter(SearchFilter):
    """``?search=``: like DRF's, but a term with a NUL character (which PostgreSQL refuses)
    matches nothing instead of failing."""

    def get_search_terms(self, request):
        terms = super().get_search_terms(request)
        return ["\ufffd"] if any("\x00" in t for t in terms) else terms


class Pagination(PageNumberPagination):
    """``?page=N`` (1-based) and ``?page_size=`` (default 25, at most 100)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
