"""Views of the example project.

Contract: ``index`` renders ``myproj/index.html``. ``GET /`` shows the heading
and a form; ``POST /`` (CSRF-protected by the middleware) with a ``name`` field
greets that name ("Hello, <name>!", HTML-escaped by the template). Other
methods get 405.
"""
from django.shortcuts import render
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET", "HEAD", "POST"])
def index(request):
    """Show the form, or greet the name it posted."""
    context = {"name": None}
    if request.method == "POST":
        context["name"] = request.POST.get("name", "").strip() or "stranger"
    return render(request, "myproj/index.html", context)
