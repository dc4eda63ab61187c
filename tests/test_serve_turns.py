import asyncio

import pytest
from starlette.exceptions import HTTPException

from objrec.serve.turns import ClientGone, Turns


async def never_gone() -> bool:
    return False


async def gone() -> bool:
    return True


def test_an_upload_whose_client_has_gone_is_not_answered_at_its_turn():
    """serve decoded and answered uploads whose clients had given up (12 of 12 after curl's
    --max-time 2), waiting in the executor's queue, and logged them as answered. At
    its turn, an upload whose client closed the connection is not answered."""
    turns, answered = Turns(1), []

    async def upload(name, client_gone):
        try:
            async with turns.turn(client_gone):
                answered.append(name)
                await asyncio.sleep(0)
        except ClientGone:
            return f"{name} gone"
        return f"{name} answered"

    async def main():
        return await asyncio.gather(
            upload("first", never_gone), upload("left", gone), upload("last", never_gone)
        )

    said = asyncio.run(main())
    assert said == ["first answered", "left gone", "last answered"]
    assert answered == ["first", "last"] and turns.waiting == 0


def test_an_upload_beyond_the_line_is_refused_at_once_with_retry_after():
    """The executor's queue of waiting uploads had no bound; past ``most_waiting`` one is
    answered 503 at once, saying when to send it again."""
    turns, release = Turns(1, most_waiting=2), None

    async def upload():
        async with turns.turn(never_gone, {"Retry-After": "5"}):
            await release.wait()

    async def main():
        nonlocal release
        release = asyncio.Event()
        held = [asyncio.create_task(upload()) for _ in range(3)]  # 1 answered, 2 waiting
        while turns.waiting < 2:
            await asyncio.sleep(0)
        with pytest.raises(HTTPException) as refused:
            await upload()
        release.set()
        await asyncio.gather(*held)
        return refused.value

    refused = asyncio.run(main())
    assert (refused.status_code, refused.headers) == (503, {"Retry-After": "5"})
    assert refused.detail == (
        "the server is busy: 2 uploads are waiting for their turn; send it again in a few seconds"
    )
    assert turns.waiting == 0
