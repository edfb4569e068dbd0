"""The real EXACT-Sync client (exact-sync 0.0.41) with a personal access token made on the
account page: lists the image sets the token's user sees.
Usage: sync_token.py HOST TOKEN. Prints the set names as JSON; exits non-zero on refusal."""
import json
import sys

from exact_sync.v1.api.image_sets_api import ImageSetsApi
from exact_sync.v1.api_client import ApiClient
from exact_sync.v1.configuration import Configuration

conf = Configuration()
conf.host, conf.token = sys.argv[1], sys.argv[2]
sets = ImageSetsApi(ApiClient(conf)).list_image_sets()
print(json.dumps(sorted(s.name for s in sets.results)))
