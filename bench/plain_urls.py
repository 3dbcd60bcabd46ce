"""The project's routes plus a plain view that reads a request body and discards it."""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from workspace.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def plain_receive(request: HttpRequest) -> JsonResponse:
    total = 0
    while chunk := request.read(256 * 1024):
        total += len(chunk)
    return JsonResponse({"received": total}, status=201)


urlpatterns = [path("bench/plain/", plain_receive), *project_urlpatterns]
