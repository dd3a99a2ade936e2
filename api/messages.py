"""API of the family's messages (issue 17): the threads of a case, one thread with its messages
(reading it moves your read marker), starting a thread and posting in one. A thread you are not
in answers 404, as one that does not exist."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.serializers import InputSerializer
from api.views import UUID_REGEX, CaseScopedMixin
from cases import message_selectors, messaging
from cases.models import Conversation, Message, NetworkMember, User
from consent.policy import Need


class ChosenMemberSerializer(serializers.ModelSerializer):
    """A professional of the network whom the family chose into the thread."""

    name = serializers.SerializerMethodField()
    organisation = serializers.CharField(source="organisation.name", read_only=True)

    class Meta:
        model = NetworkMember
        fields = ["id", "name", "organisation"]

    def get_name(self, member) -> str:
        return member.user.get_full_name() or member.user.username


class ConversationSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    members = ChosenMemberSerializer(source="chosen", many=True, read_only=True)
    unread = serializers.IntegerField(
        read_only=True, help_text=_("Messages from others since you last read the thread.")
    )

    class Meta:
        model = Conversation
        fields = ["id", "case", "subject", "members", "created_at", "last_message_at", "unread"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    conversation = serializers.UUIDField(source="conversation_id", read_only=True)
    author = serializers.UUIDField(source="author_id", read_only=True)
    author_name = serializers.CharField(
        read_only=True,
        default="",
        help_text=_(
            "A worker's name; a guardian's name for those who read the family's basic data."
        ),
    )
    from_family = serializers.BooleanField(read_only=True, default=False)
    is_new = serializers.BooleanField(
        read_only=True,
        default=False,
        help_text=_("From someone else, after you last read the thread."),
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "author",
            "author_name",
            "from_family",
            "text",
            "protected",
            "created_at",
            "is_new",
        ]
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    messages = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields

    @extend_schema_field(MessageSerializer(many=True))
    def get_messages(self, conversation) -> list:
        return list(MessageSerializer(self.context["messages"], many=True).data)


class ConversationCreateSerializer(InputSerializer):
    subject = serializers.CharField(max_length=messaging.SUBJECT_LIMIT)
    text = serializers.CharField(max_length=messaging.TEXT_LIMIT)
    members = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=50,
        help_text=_(
            "Network members (professionals) to have in the thread; only the family chooses. "
            "The responsible worker is always in it."
        ),
    )


class MessageCreateSerializer(InputSerializer):
    text = serializers.CharField(max_length=messaging.TEXT_LIMIT)
    protected = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Under a non-disclosure marking, only the responsible worker and the members they "
            "name see this message."
        ),
    )


class ConversationViewSet(
    CaseScopedMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """A case's message threads between the family, its responsible worker and the network
    members the family chose."""

    serializer_class = ConversationSerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "conversations"
    _shown: message_selectors.Threads | message_selectors.Thread | None = None

    def get_queryset(self):
        return Conversation.objects.none()  # for the schema; the actions read through selectors

    def shown_categories(self, case, access):
        if self._shown is None:
            return set(), set()
        return set(self._shown.categories), set(self._shown.sources)

    @extend_schema(responses=ConversationSerializer(many=True))
    def list(self, request, case_pk=None):
        """The threads of the case that you are in, newest first, with their unread counts;
        paginated like the other lists (`page`, `page_size`)."""
        case, access = self.case_and_access()
        threads = message_selectors.conversation_list(
            user=cast(User, request.user),
            case=case,
            access=access,
            paginate=lambda queryset: self.paginate_queryset(queryset) or [],
        )
        self._shown = threads
        return self.get_paginated_response(
            ConversationSerializer(threads.conversations, many=True).data
        )

    @extend_schema(responses=ConversationDetailSerializer)
    def retrieve(self, request, case_pk=None, pk=None):
        """One thread with its messages; reading it marks it read for you."""
        case, access = self.case_and_access()
        thread = messaging.conversation_open(
            user=cast(User, request.user), case=case, access=access, conversation_id=pk
        )
        self._shown = thread
        return Response(self._detail(thread))

    @extend_schema(
        request=ConversationCreateSerializer, responses={201: ConversationDetailSerializer}
    )
    def create(self, request, case_pk=None):
        """Start a thread with its first message (the family, choosing members; or the
        responsible worker, with the family)."""
        case, access = self.case_and_access(need=Need.CONVERSATIONS)
        data = ConversationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        thread = messaging.conversation_start(
            actor=cast(User, request.user), case=case, access=access, **data.validated_data
        )
        return Response(self._detail(thread), status=status.HTTP_201_CREATED)

    @extend_schema(request=MessageCreateSerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"])
    def messages(self, request, case_pk=None, pk=None):
        """Post a message in a thread you are in."""
        case, access = self.case_and_access()
        user = cast(User, request.user)
        # The thread first: one you are not in is 404 whatever the body says.
        thread = message_selectors.conversation_get(
            user=user, case=case, access=access, conversation_id=pk
        )
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = messaging.message_post(
            actor=user,
            case=case,
            access=access,
            conversation_id=thread.conversation.pk,
            **data.validated_data,
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    def _detail(self, thread) -> dict:
        return ConversationDetailSerializer(
            thread.conversation, context={"messages": thread.messages}
        ).data
