"""The topics an alert can be about. Contacts may opt out of any of them, and an alert
tagged with a topic leaves out everyone who opted out of it."""

from enum import StrEnum


class Topic(StrEnum):
    rome_statute = "rome_statute"
    apic = "apic"
    kampala = "kampala"
    implementing_legislation = "implementing_legislation"
    cooperation = "cooperation"
    assembly_of_states_parties = "assembly_of_states_parties"
    elections = "elections"
    budget = "budget"
    victims = "victims"


TOPIC_LABELS: dict[Topic, str] = {
    Topic.rome_statute: "Ratification of the Rome Statute",
    Topic.apic: "Agreement on Privileges and Immunities (APIC)",
    Topic.kampala: "Kampala amendments (crime of aggression)",
    Topic.implementing_legislation: "Implementing legislation",
    Topic.cooperation: "Cooperation with the Court and arrest warrants",
    Topic.assembly_of_states_parties: "Assembly of States Parties",
    Topic.elections: "Elections of judges and the Prosecutor",
    Topic.budget: "The Court's budget",
    Topic.victims: "Victims' rights and reparations",
}
