from django.contrib.auth.views import LogoutView
from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.overview, name="dashboard-overview"),
    path("login", views.DashboardLogin.as_view(), name="dashboard-login"),
    path("login/once/<str:uid>/<str:token>", views.login_once, name="dashboard-login-once"),
    path("logout", LogoutView.as_view(next_page="dashboard-login"), name="dashboard-logout"),
    path("dashboard/cards", views.cards, name="dashboard-cards"),
    path("dashboard/agents/<int:pk>", views.agent_page, name="dashboard-agent"),
    path("dashboard/agents/<int:pk>/screen", views.agent_screen, name="dashboard-agent-screen"),
    path("dashboard/agents/<int:pk>/history", views.agent_history, name="dashboard-agent-history"),
    path("dashboard/agents/<int:pk>/send", views.agent_send, name="dashboard-agent-send"),
    path("dashboard/agents/<int:pk>/<str:answer>", views.agent_answer, name="dashboard-agent-answer"),
]
