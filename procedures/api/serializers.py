"""Procedure API shapes: versions out in full; new-version patches, screening and estimates in."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from procedures.models import ProcedureStep, ProcedureTemplate, ProcedureVersion
from procedures.screening import BOOL, MAX_DRUGS, NUMBER, QUESTIONS, questionnaire, screening_rules_of
from procedures.versions import STEP_FIELDS, VERSION_FIELDS, unsourced_parameters


class StepSerializer(serializers.ModelSerializer[ProcedureStep]):
    class Meta:
        model = ProcedureStep
        fields = ["order", "kind", "name", "minutes", "per_level", "description"]


class QuestionSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    type = serializers.ChoiceField(choices=["bool", "number", "drug_list"])
    label = serializers.CharField()  # type: ignore[assignment]
    unit = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]


class VersionSerializer(serializers.ModelSerializer[ProcedureVersion]):
    template: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    steps = StepSerializer(many=True, read_only=True)
    questionnaire = serializers.SerializerMethodField(
        help_text="The screening questions (answer codes, types, whether this version requires them)."
    )

    class Meta:
        model = ProcedureVersion
        fields = ["template", "number", "created_at", "created_by", "change_note", *VERSION_FIELDS, "steps"]
        fields.extend(["questionnaire", "unsourced_parameters"])
        read_only_fields = fields

    unsourced_parameters = serializers.SerializerMethodField(
        help_text="Paths of this version's numbers that no parameter_sources entry covers (should be empty)."
    )

    @extend_schema_field(QuestionSerializer(many=True))
    def get_questionnaire(self, version: ProcedureVersion) -> list[dict[str, Any]]:
        return questionnaire(screening_rules_of(version))

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_unsourced_parameters(self, version: ProcedureVersion) -> list[str]:
        data: dict[str, Any] = {name: getattr(version, name) for name in VERSION_FIELDS}
        data["steps"] = [{name: getattr(step, name) for name in STEP_FIELDS} for step in version.steps.all()]
        return unsourced_parameters(data)


class TemplateSerializer(serializers.ModelSerializer[ProcedureTemplate]):
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = ProcedureTemplate
        fields = ["slug", "name", "description", "latest_version"]

    @extend_schema_field(VersionSerializer(allow_null=True))
    def get_latest_version(self, template: ProcedureTemplate) -> dict[str, Any] | None:
        latest = getattr(template, "latest_versions", None)
        if not latest:
            return None
        return dict(VersionSerializer(latest[0], context=self.context).data)


class StepInputSerializer(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(choices=ProcedureStep._meta.get_field("kind").choices)  # type: ignore[arg-type]
    name = serializers.CharField(max_length=200)
    minutes = serializers.IntegerField(min_value=0, max_value=32767)
    per_level = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True, required=False, default="")


class NewVersionSerializer(serializers.ModelSerializer[ProcedureVersion]):
    """A patch over the latest version: send only what changes; `steps` replaces the whole list."""

    change_note = serializers.CharField(help_text="What changed and why (required).")
    steps = StepInputSerializer(many=True, required=False, max_length=100)  # type: ignore[call-arg]

    class Meta:
        model = ProcedureVersion
        fields = ["change_note", *VERSION_FIELDS, "steps"]
        extra_kwargs = {name: {"required": False} for name in VERSION_FIELDS}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Not a version field."] for name in unknown})
        return attrs


def _answer_field(kind: str, label: str) -> serializers.Field[Any, Any, Any, Any]:
    if kind == BOOL:
        return serializers.BooleanField(required=False, allow_null=True, help_text=label)
    if kind == NUMBER:
        return serializers.FloatField(required=False, allow_null=True, help_text=label)
    return serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        allow_null=True,
        max_length=MAX_DRUGS,
        help_text=label,
    )


# For the schema only: the answers object documented question by question. The view passes the
# raw object to screening.screen, which is stricter than DRF (no "1.2" for an INR).
ScreeningAnswersSchema = type(
    "ScreeningAnswers",
    (serializers.Serializer,),
    {q.code: _answer_field(q.type, f"{q.label} {q.unit}".strip()) for q in QUESTIONS},
)


class ScreenInputSerializer(serializers.Serializer[dict[str, Any]]):
    answers = serializers.JSONField(help_text="Answer code → value; see ScreeningAnswers and the questionnaire.")
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="Screen against this version number (default: the latest)."
    )


class ScreenInputSchema(serializers.Serializer[dict[str, Any]]):
    answers = ScreeningAnswersSchema()
    version = serializers.IntegerField(min_value=1, required=False)


class FindingSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    message = serializers.CharField()


class HoldSerializer(serializers.Serializer[dict[str, Any]]):
    drug = serializers.CharField()
    stop_days_before = serializers.IntegerField()
    basis = serializers.CharField(
        required=False, help_text="Why this many days: present when kidney function decides (or could decide) them."
    )


class ScreeningOutcomeSerializer(serializers.Serializer[dict[str, Any]]):
    result = serializers.ChoiceField(choices=["eligible", "ineligible", "incomplete"])
    blockers = FindingSerializer(many=True)
    warnings = FindingSerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField())
    anticoagulant_holds = HoldSerializer(many=True)
    version = serializers.IntegerField()


class EstimateInputSerializer(serializers.Serializer[dict[str, Any]]):
    levels = serializers.JSONField(help_text='Vertebra codes, e.g. ["T12", "L1"].')
    anaesthesia = serializers.CharField(required=False, help_text="Default: the version's default anaesthesia.")
    version = serializers.IntegerField(min_value=1, required=False)


class EstimateLineSerializer(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(choices=["step", "anaesthesia", "turnover"])
    label = serializers.CharField()  # type: ignore[assignment]
    minutes = serializers.IntegerField()


class EstimateSerializer(serializers.Serializer[dict[str, Any]]):
    total_minutes = serializers.IntegerField()
    lines = EstimateLineSerializer(many=True)
    levels = serializers.ListField(child=serializers.CharField())
    anaesthesia = serializers.CharField()
    version = serializers.IntegerField()
