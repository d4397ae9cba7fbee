/* An exercise not attempted: the function does not exist yet.
 *
 * hint: write answer() in
 * answer.c
 */
int answer(void);
int main(void)
{
    return answer() == 42 ? 0 : 1;
}
