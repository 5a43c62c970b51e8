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
    path("dashboard/agents/<int:pk>/restart", views.agent_restart, name="dashboard-agent-restart"),
    path("dashboard/agents/<int:pk>/<str:answer>", views.agent_answer, name="dashboard-agent-answer"),
    path("dashboard/needs-you", views.needs_you, name="dashboard-needs-you"),
    path("dashboard/tasks", views.tasks_board, name="dashboard-tasks"),
    path("dashboard/tasks/<int:pk>/move", views.task_move, name="dashboard-task-move"),
    path("dashboard/teams", views.teams_page, name="dashboard-teams"),
    path("dashboard/teams/deploy", views.team_deploy, name="dashboard-team-deploy"),
    path("dashboard/teams/<path:name>/standup", views.team_standup, name="dashboard-team-standup"),
    path("dashboard/teams/<path:name>/teardown", views.team_teardown, name="dashboard-team-teardown"),
    path("dashboard/standups/<int:pk>", views.standup_page, name="dashboard-standup"),
    path("dashboard/system", views.system_page, name="dashboard-system"),
]
