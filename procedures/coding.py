"""Clinical codes for the procedures and the vertebral levels, with their sources.

The codes say WHAT a procedure is, which no template version changes: a version changes how it is
done (minutes, cement, screening), and a case pinned to version 1 of `kyphoplasty` is a balloon
kyphoplasty all the same. So the codes are kept per template slug here, beside the templates,
rather than in the immutable versions (where a correction of a code would need a new version and
would leave every pinned case with the old code). A terminologist's correction is a one-line
change in this file, reviewed like code.

SNOMED CT concept ids (system http://snomed.info/sct):
- procedures: from the project's research summary (shared/research/clinical-standards.md, "Codes"),
  which marks them UNVERIFIED. Before production a terminologist must confirm both against the
  NHS SNOMED CT UK edition (the terminology server of the trust, or the NHS England browser):
  one public FHIR value-set expansion gives 429616001 a different meaning.
- vertebrae: DICOM PS3.16 CID 7603 "Vertebra", which lists the SNOMED CT concept of each vertebra
  (as published in bvdh/dicom-terminology-in-fhir, input/fsh/ValueSet-dicom-cid-7603-Vertebra.fsh).
"""

from __future__ import annotations

from dataclasses import dataclass

SNOMED_CT = "http://snomed.info/sct"


@dataclass(frozen=True)
class ClinicalCode:
    system: str
    code: str
    display: str
    source: str
    verified: bool


_RESEARCH = "shared/research/clinical-standards.md (Codes), marked unverified"

# Template slug -> its SNOMED CT procedure concept.
PROCEDURE_CODES: dict[str, ClinicalCode] = {
    "kyphoplasty": ClinicalCode(SNOMED_CT, "429616001", "Percutaneous balloon kyphoplasty", _RESEARCH, verified=False),
    "vertebroplasty": ClinicalCode(SNOMED_CT, "392010000", "Percutaneous vertebroplasty", _RESEARCH, verified=False),
}

_CID_7603 = "DICOM PS3.16 CID 7603 Vertebra"

# Vertebra code (as cases store levels) -> its SNOMED CT body structure concept (DICOM CID 7603).
VERTEBRA_CODES: dict[str, ClinicalCode] = {
    level: ClinicalCode(SNOMED_CT, code, f"{level} vertebra", _CID_7603, verified=True)
    for level, code in (
        ("T1", "64864005"),
        ("T2", "53733008"),
        ("T3", "1626008"),
        ("T4", "73071006"),
        ("T5", "56401006"),
        ("T6", "45296009"),
        ("T7", "62487009"),
        ("T8", "11068009"),
        ("T9", "82687006"),
        ("T10", "7610001"),
        ("T11", "12989004"),
        ("T12", "23215003"),
        ("L1", "66794005"),
        ("L2", "14293000"),
        ("L3", "36470004"),
        ("L4", "11994002"),
        ("L5", "49668003"),
    )
}


def procedure_code(slug: str) -> ClinicalCode | None:
    return PROCEDURE_CODES.get(slug)


def slug_for_procedure_code(*, system: str, code: str) -> str | None:
    """The template slug a coded procedure names, or None for a code we do not perform."""
    for slug, known in PROCEDURE_CODES.items():
        if known.system == system and known.code == code:
            return slug
    return None


def level_for_vertebra_code(*, system: str, code: str) -> str | None:
    for level, known in VERTEBRA_CODES.items():
        if known.system == system and known.code == code:
            return level
    return None
