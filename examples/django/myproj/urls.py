"""URL routes of the example project: ``/`` is the greeting page."""
from django.urls import path

from myproj import views

urlpatterns = [
    path("", views.index, name="index"),
]
