"""The production static files storage: WhiteNoise's compressed, hashed ("manifest") storage,
tolerant of CSS that refers to files its package does not ship.

django-viewflow's bundled ``roboto-fontface.css`` names font files (e.g. ``Roboto-Thin.woff2``)
that are not in the package; the stock storage then fails ``collectstatic``. Here such a
reference is left as written (the browser gets a 404 for that one font, as without hashing);
every file that exists is hashed and compressed as usual.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """``CompressedManifestStaticFilesStorage`` that keeps a reference to a missing file unchanged."""

    def url_converter(self, name, hashed_files, template=None):
        convert = super().url_converter(name, hashed_files, template)

        def converter(matchobj):
            try:
                return convert(matchobj)
            except ValueError:  # the referenced file does not exist
                return matchobj.group(0)
        return converter
