"""Hello-world floor: functions-framework and nothing else. Answers 202 at once, so it doubles as
the event sink that acknowledges every event the way a Knative Broker does."""

import functions_framework


@functions_framework.http
def hello(_request):
    return ("", 202)
